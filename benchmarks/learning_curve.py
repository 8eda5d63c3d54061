"""Learning curve: how many examples per class before fine-tuning beats the two baselines.

    python -m benchmarks.learning_curve [--config configs/hard-demo.yaml configs/default.yaml]
        [--sizes 5 10 20 50 all] [--seeds 0 1 2] [--set train.epochs=10] [--out NAME]

For each config, the data stages run once into a scratch root (reports/bench/.learning-curve/),
then for every size n and seed the train split is cut to n sentences per class (every sentence
of a class with fewer) and the validation split to ceil(n / 3) per class, as a user with n x 5/3
labelled sentences per class would have after the 6:2:2 split; "all" keeps both whole, and a
size above 0.8 x the mean per class is left out (it would be "all" again). The test
split is always the whole held-out one. Each cut is trained with the config's recipe by the real
train stage (train.seed = the seed) and scored by the real evaluate stage, which fits the TF-IDF
and the frozen-encoder baselines on the same cut: three test macro F1s per (n, seed), the mean
and spread over the seeds in reports/bench/<NAME>.json (default learning_curve) and a figure
beside it. Model weights and scratch data are removed as the runs finish.

Every argument is checked before any stage runs, one line and exit 2 otherwise: a size is a
positive integer or "all", a seed a non-negative integer, neither given twice, and every
--config file exists. A config whose train split is too small for every size given (all above
0.8 x the mean per class) is named, exit 2. The report so far is kept in <NAME>.partial.json
while the runs go on; <NAME>.json (and the figure) are replaced, atomically, only at the end
with at least one run, so a failed or refused bench never overwrites an earlier report.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.cli import setup_logging
from pipeline.config import load_config
from pipeline.data import ingest, prepare, split
from pipeline.errors import PipelineError
from pipeline.evaluate import stage as evaluate
from pipeline.io import atomic_path, package_versions, read_json, write_json
from pipeline.paths import Paths
from pipeline.train import stage as train

logger = logging.getLogger("benchmarks.learning_curve")

CONFIGS = ["configs/hard-demo.yaml", "configs/default.yaml"]
SIZES = ["5", "10", "20", "50", "all"]
SEEDS = [0, 1, 2]
METHODS = {"model": "fine-tuned", "embedding": "frozen encoder + LR", "tfidf": "TF-IDF + LR"}


def cut(df: pd.DataFrame, per_class: int | None, seed: int) -> pd.DataFrame:
    """``per_class`` rows of every label (all of a smaller one), drawn with ``seed``."""
    if per_class is None:
        return df
    parts = [
        g.sample(n=min(per_class, len(g)), random_state=seed) for _, g in df.groupby("label_id")
    ]
    return pd.concat(parts).sort_index()


def prepare_dataset(config: str, scratch: Path, overrides: list[str]) -> Path:
    """Ingest, prepare and split ``config``'s data into ``scratch``; returns that root."""
    root = scratch / "data-root"
    (root / "data").mkdir(parents=True, exist_ok=True)
    project = Path(".").resolve()
    for link, target in ((root / "data" / "raw", project / "data" / "raw"),
                         (root / ".cache", project / ".cache")):  # fmt: skip
        if not link.exists():
            target.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
    cfg = load_config(config, [*overrides, f"root={root}"])
    for stage in (ingest, prepare, split):
        stage.run(cfg)
    return root


def one_run(
    config: str, data_root: Path, run_root: Path, size: str, seed: int, overrides: list[str]
) -> dict[str, Any]:
    """Train and evaluate one cut; returns its scores and costs."""
    per_class = None if size == "all" else int(size)
    src, dst = Paths(data_root), Paths(run_root)
    dst.processed.mkdir(parents=True, exist_ok=True)
    dst.interim.mkdir(parents=True, exist_ok=True)
    (run_root / ".cache").mkdir(exist_ok=True)
    # the converted base model is shared; trimmed vocabularies land in the run's own cache
    shared = src.base_models / "multilingual-e5-small"
    if shared.exists() and not (dst.base_models / shared.name).exists():
        dst.base_models.mkdir(parents=True, exist_ok=True)
        (dst.base_models / shared.name).symlink_to(shared.resolve())
    train_df = cut(pd.read_parquet(src.split_file("train")), per_class, seed)
    val_n = None if per_class is None else max(1, math.ceil(per_class / 3))
    val_df = cut(pd.read_parquet(src.split_file("validation")), val_n, seed)
    train_df.to_parquet(dst.split_file("train"))
    val_df.to_parquet(dst.split_file("validation"))
    shutil.copyfile(src.split_file("test"), dst.split_file("test"))
    shutil.copyfile(src.labels, dst.labels)
    cfg = load_config(config, [*overrides, f"root={run_root}", f"train.seed={seed}"])
    t0 = time.perf_counter()
    trained = train.run(cfg, force=True)
    seconds = time.perf_counter() - t0
    metrics = evaluate.run(cfg).metrics
    record = read_json(trained.run_dir / "run.json")
    shutil.rmtree(run_root)
    scores = {
        "model": metrics,
        "tfidf": metrics["baseline"],
        "embedding": metrics["embedding_baseline"],
    }
    return {
        "size": size,
        "seed": seed,
        "n_train": len(train_df),
        "n_validation": len(val_df),
        "per_class_mean": round(len(train_df) / train_df["label_id"].nunique(), 2),
        "n_test": metrics["n"],
        **{m: {"macro_f1": s["macro_f1"], "accuracy": s["accuracy"]} for m, s in scores.items()},
        "epochs_run": record["epochs_run"],
        "best_epoch": record["best_epoch"],
        "train_seconds": round(seconds, 1),
    }


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: mean and standard deviation over the seeds of each method's macro F1."""
    out = []
    for size in dict.fromkeys(r["size"] for r in runs):
        group = [r for r in runs if r["size"] == size]
        row: dict[str, Any] = {"size": size, "per_class_mean": group[0]["per_class_mean"]}
        for m in METHODS:
            f1 = np.array([r[m]["macro_f1"] for r in group])
            row[m] = {"mean": round(float(f1.mean()), 4), "std": round(float(f1.std()), 4)}
        row["model_at_or_above_both"] = all(
            r["model"]["macro_f1"] >= max(r["tfidf"]["macro_f1"], r["embedding"]["macro_f1"])
            for r in group
        )
        row["mean_model_at_or_above_both"] = row["model"]["mean"] >= max(
            row["tfidf"]["mean"], row["embedding"]["mean"]
        )
        out.append(row)
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    from matplotlib.ticker import NullLocator

    from pipeline.plots import pyplot

    plt = pyplot()
    names = list(result["datasets"])
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rows = result["datasets"][name]["summary"]
        x = [r["per_class_mean"] for r in rows]
        for m, label in METHODS.items():
            y = [r[m]["mean"] for r in rows]
            err = [r[m]["std"] for r in rows]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=label)
        ax.set_xscale("log")
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(x, [f"{r['size']}\n({r['per_class_mean']:g})" for r in rows])
        ax.set_xlabel("training sentences per class (mean)")
        ax.set_ylabel("test macro F1")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("learning curve: mean over seeds, bars = standard deviation")
    fig.tight_layout()
    fig.savefig(path, dpi=100, format="png")  # path may be a temporary name
    plt.close(fig)


def check_args(
    configs: list[str], sizes: list[str], seeds: list[str]
) -> tuple[list[str], list[int]]:
    """The sizes (positive integers as written, or "all") and seeds (non-negative integers),
    checked before any stage runs; raises PipelineError naming the bad one."""
    out_sizes: list[str] = []
    for size in sizes:
        text = size.strip().lower()
        if text != "all" and not (text.isascii() and text.isdigit() and int(text) > 0):
            raise PipelineError(
                f"--sizes {size!r}: a size is a positive whole number of sentences per class "
                "or 'all'"
            )
        text = "all" if text == "all" else str(int(text))
        if text in out_sizes:
            raise PipelineError(f"--sizes {size!r} is given twice: each size runs once")
        out_sizes.append(text)
    out_seeds: list[int] = []
    for seed in seeds:
        text = seed.strip()
        if not (text.isascii() and text.isdigit()):
            raise PipelineError(f"--seeds {seed!r}: a seed is a whole number, 0 or more")
        if int(text) in out_seeds:
            raise PipelineError(f"--seeds {seed!r} is given twice: each seed runs once")
        out_seeds.append(int(text))
    for config in configs:
        if not Path(config).is_file():
            raise PipelineError(f"--config {config}: file not found")
    return out_sizes, out_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", nargs="+", default=CONFIGS)
    parser.add_argument("--sizes", nargs="+", default=SIZES)
    parser.add_argument("--seeds", nargs="+", default=[str(s) for s in SEEDS])
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", default="learning_curve", help="file name under reports/bench")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        args.sizes, args.seeds = check_args(args.config, args.sizes, args.seeds)
    except PipelineError as exc:
        logger.error("%s", exc)
        return 2
    bench = Paths(Path(".").resolve()).bench
    scratch = bench / ".learning-curve"
    final, partial = bench / f"{args.out}.json", bench / f"{args.out}.partial.json"
    result: dict[str, Any] = {
        "what": "test macro F1 by training sentences per class: fine-tuned vs both baselines",
        "overrides": args.overrides,
        "seeds": args.seeds,
        "datasets": {},
    }
    try:
        for config in args.config:
            name = Path(config).stem
            data_root = prepare_dataset(config, scratch / name, args.overrides)
            available = pd.read_parquet(Paths(data_root).split_file("train"))
            per_label = available.groupby("label_id").size()
            most = int(per_label.max())
            # a cut that keeps most of the split is "all" again (the demo: 10 of at most 13)
            sizes = [s for s in args.sizes if s == "all" or int(s) <= 0.8 * per_label.mean()]
            if not sizes:
                raise PipelineError(
                    f"--config {config}: every size of --sizes ({' '.join(args.sizes)}) is above "
                    f"0.8 x the mean per class of its train split ({per_label.mean():.1f}), so "
                    "none would differ from 'all': give smaller sizes or 'all'"
                )
            runs = []
            for size in sizes:
                for seed in args.seeds:
                    logger.info("%s: %s per class, seed %d", name, size, seed)
                    run_root = scratch / name / f"n{size}-s{seed}"
                    runs.append(one_run(config, data_root, run_root, size, seed, args.overrides))
                    logger.info("%s", runs[-1])
                    result["datasets"][name] = {
                        "config": config,
                        "train_per_class_available": most,
                        "summary": summarize(runs),
                        "runs": runs,
                    }
                    write_json(partial, result)  # so far; the final report only at the end
    except PipelineError as exc:
        logger.error("%s", exc)
        return 2
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not any(d["runs"] for d in result["datasets"].values()):
        logger.error("no run finished: %s is left as it was", final)
        return 2
    result["versions"] = package_versions()
    with atomic_path(bench / f"{args.out}.png") as tmp:
        plot(result, tmp)
    write_json(final, result)  # atomic: a temporary file renamed into place
    partial.unlink(missing_ok=True)
    for name, d in result["datasets"].items():
        for r in d["summary"]:
            print(  # noqa: T201
                f"{name} {r['size']:>4}: model {r['model']['mean']:.3f}±{r['model']['std']:.3f} "
                f"embedding {r['embedding']['mean']:.3f}±{r['embedding']['std']:.3f} "
                f"tfidf {r['tfidf']['mean']:.3f}±{r['tfidf']['std']:.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
