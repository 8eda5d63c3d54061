"""Print the resolved config, or one key of it.

python -m pipeline.config --config configs/default.yaml            # the whole config
python -m pipeline.config --config configs/default.yaml --get train.run_name
"""

from __future__ import annotations

import argparse
import dataclasses

import yaml

from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config, get_dotted


def main(argv: list[str] | None = None) -> int:

    parser = argparse.ArgumentParser(description="Print the resolved config, or one key of it.")
    add_config_args(parser)
    parser.add_argument("--get", help="dotted key to print, e.g. train.run_name")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        value = get_dotted(cfg, args.get) if args.get else cfg
        if dataclasses.is_dataclass(value):  # the whole config or a section: YAML
            value = yaml.safe_dump(dataclasses.asdict(value), allow_unicode=True, sort_keys=False)
        print(value)  # noqa: T201

    return run_cli(parser, work, argv, quiet=True)


if __name__ == "__main__":
    raise SystemExit(main())
