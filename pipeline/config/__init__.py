"""One typed configuration for every stage, loaded from YAML.

``schema.py`` holds the sections (frozen dataclasses, one comment per key), ``loading.py``
reads YAML into them and applies ``--set`` overrides; ``python -m pipeline.config`` prints the
resolved config. Import from here: ``from pipeline.config import Config, load_config``.
"""

from pipeline.config.loading import (
    check_training_values,
    from_dict,
    get_dotted,
    load_config,
    parse_override,
    read_yaml_mapping,
    set_dotted,
    with_overrides,
    yaml_error_line,
)
from pipeline.config.schema import (
    Config,
    EarlyStoppingConfig,
    EvaluateConfig,
    IngestConfig,
    ModelConfig,
    PrepareConfig,
    PublishConfig,
    ServeConfig,
    SplitConfig,
    TrackingConfig,
    TrainConfig,
)

__all__ = [
    "Config",
    "EarlyStoppingConfig",
    "EvaluateConfig",
    "IngestConfig",
    "ModelConfig",
    "PrepareConfig",
    "PublishConfig",
    "ServeConfig",
    "SplitConfig",
    "TrackingConfig",
    "TrainConfig",
    "check_training_values",
    "from_dict",
    "get_dotted",
    "load_config",
    "parse_override",
    "read_yaml_mapping",
    "set_dotted",
    "with_overrides",
    "yaml_error_line",
]
