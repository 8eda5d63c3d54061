"""Every location the pipeline reads or writes, derived from one root.

Stage code never builds path strings itself: it asks ``Paths``. Tests point the root at a
temporary directory with ``--set root=/tmp/x``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def from_config(cls, cfg) -> Paths:  # cfg: pipeline.config.Config
        return cls(Path(cfg.root).resolve())

    def resolve(self, relative: str | Path) -> Path:
        """A path from a config (workbook, label table), relative to the root."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p

    # data/ -------------------------------------------------------------------------------
    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def interim(self) -> Path:
        return self.root / "data" / "interim"

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def sentences(self) -> Path:
        return self.interim / "sentences.parquet"

    @property
    def dataset(self) -> Path:
        return self.interim / "dataset.parquet"

    @property
    def labels(self) -> Path:
        return self.interim / "labels.json"

    @property
    def prepare_report(self) -> Path:
        return self.interim / "prepare_report.json"

    def split_file(self, split: str) -> Path:
        return self.processed / f"{split}.parquet"

    @property
    def manifest(self) -> Path:
        return self.processed / "manifest.json"

    # models/ and reports/ ----------------------------------------------------------------
    @property
    def models(self) -> Path:
        return self.root / "models"

    def run_dir(self, run_name: str) -> Path:
        return self.models / run_name

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def report_dir(self, run_name: str) -> Path:
        return self.reports / run_name

    def adhoc_report_dir(self, run_name: str, input_stem: str) -> Path:
        """Report of ``evaluate --input FILE``: beside, never instead of, the split's report."""
        return self.report_dir(run_name) / "adhoc" / input_stem

    def figures_dir(self, run_name: str) -> Path:
        return self.report_dir(run_name) / "figures"

    def sweep_dir(self, sweep_name: str) -> Path:
        return self.reports / "sweeps" / sweep_name

    @property
    def base_models(self) -> Path:
        """Base checkpoints converted from packages or trimmed (git-ignored, rebuilt on demand)."""
        return self.root / ".cache" / "base-models"

    @property
    def bench(self) -> Path:
        return self.reports / "bench"


SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class RunDir:
    """The files of one run directory (models/<run>/) and of its report, named in one place.

    ``save_pretrained`` writes config.json, the weights and the tokenizer files; the train stage
    adds the rest; evaluate writes the report (``Paths.report_dir``).
    """

    path: Path

    RECORD = "run.json"  # provenance: config, data hashes, versions, the best epoch
    CONFIG = "config.json"  # the model's config, id2label included
    LABELS = "labels.json"  # id2label and label2group (NER: tags and entity types)
    # The temperature (and multi-label thresholds) fitted on the validation split after training,
    # published with the model: pipeline/calibration.py.
    CALIBRATION = "calibration.json"
    HISTORY = "history.csv"  # one row per epoch
    CURVES = "curves.png"
    WEIGHTS = "tf_model.h5"
    METRICS = "metrics.json"  # in a report directory
    REPORT = "report.md"  # in a report directory

    @property
    def record(self) -> Path:
        return self.path / self.RECORD

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def labels(self) -> Path:
        return self.path / self.LABELS

    @property
    def calibration(self) -> Path:
        return self.path / self.CALIBRATION

    @property
    def history(self) -> Path:
        return self.path / self.HISTORY

    @property
    def curves(self) -> Path:
        return self.path / self.CURVES

    @property
    def weights(self) -> Path:
        return self.path / self.WEIGHTS

    def read(self, name: str) -> dict:
        """One of the directory's JSON files, or {} when it is absent."""
        import json

        path = self.path / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
