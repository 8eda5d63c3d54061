"""Quality: the demo's fine-tuned BERT against the TF-IDF baseline on the same test split.

    python -m benchmarks.quality [--config configs/default.yaml]

Trains the config's run (skipped when it is already trained with this config and data, as
``make train`` does), evaluates it on the test split with the real evaluate stage (which fits
the baseline on the train split), and writes reports/bench/quality.json: accuracy, macro F1 and
top-3 of both side by side, with the epochs and seconds each took.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.evaluate import stage as evaluate
from pipeline.io import package_versions, read_json, write_json
from pipeline.paths import Paths
from pipeline.tasks.classification.baseline import CharNgramBaseline
from pipeline.train import stage as train

logger = logging.getLogger(__name__)


def side(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "top_3_accuracy": metrics["top_k_accuracy"]["3"],
    }


def run(cfg: Config) -> dict[str, Any]:
    paths = Paths.from_config(cfg)
    trained = train.run(cfg)
    record = read_json(trained.run_dir / "run.json")
    report = evaluate.run(cfg)
    metrics = report.metrics

    # the baseline's own fitting time (evaluate fits it too, but does not time it)
    train_df = pd.read_parquet(paths.split_file("train"), columns=["text", "label_id"])
    t0 = time.perf_counter()
    CharNgramBaseline().fit(train_df["text"].tolist(), train_df["label_id"].to_numpy())
    baseline_s = time.perf_counter() - t0

    result = {
        "what": "demo model vs TF-IDF + logistic regression, same test split",
        "config": cfg.to_dict()["model"] | {"run_name": cfg.train.run_name},
        "split": metrics.get("split"),
        "n_test": metrics["n"],
        "model": side(metrics)
        | {
            "base_model": cfg.model.name_or_path,
            "epochs_run": record["epochs_run"],
            "best_epoch": record["best_epoch"],
            "train_seconds": record["train_seconds"],
        },
        "baseline": side(metrics["baseline"])
        | {"name": metrics["baseline"]["name"], "fit_seconds": round(baseline_s, 2)},
        "model_beats_baseline_macro_f1": metrics["macro_f1"] >= metrics["baseline"]["macro_f1"],
        "versions": package_versions(),
    }
    write_json(paths.bench / "quality.json", result)
    logger.info(
        "quality: model macro F1 %.4f (accuracy %.4f, top-3 %.4f) vs baseline %.4f (%.4f, %.4f)",
        *(result["model"]["macro_f1"], result["model"]["accuracy"]),
        result["model"]["top_3_accuracy"],
        *(result["baseline"]["macro_f1"], result["baseline"]["accuracy"]),
        result["baseline"]["top_3_accuracy"],
    )
    return result


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli

    parser = argparse.ArgumentParser(description="Demo model vs baseline -> quality.json.")
    add_config_args(parser)

    def work(args: argparse.Namespace, cfg: Config) -> None:
        result = run(cfg)
        print(  # noqa: T201
            f"wrote {Paths.from_config(cfg).bench / 'quality.json'}: macro F1 "
            f"{result['model']['macro_f1']:.4f} (model) vs {result['baseline']['macro_f1']:.4f}"
            " (baseline)"
        )

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
