"""Bench: the TF batched path against ONNX Runtime fp32 and int8 on the same sentences.

    python -m benchmarks.onnx [--config configs/default.yaml] [--rounds 3]

The config's trained run (models/<train.run_name>, the demo model), exported first when it has
no onnx/ folder (python -m pipeline.export). Every backend predicts the test split's sentences
through the same length-sorted batching (``PaddedClassifier``) at batch size 1 (a lone request)
and at ``serve.max_batch_size`` (a full micro-batch), the backends taking turns round by round
so a change of load on the machine hits all of them; the best round counts. Records
sentences/s, the speed-up over TF, label agreement with TF and macro F1 (and its change), the
CPU's int8 dot-product flags (ONNX Runtime's MLAS picks its VNNI kernels when ``avx512_vnni``
or ``avx_vnni`` is there), and writes reports/bench/onnx.json.
Then the service: ``python -m pipeline.serve --backend B`` for each backend, the three servers
up at once on 127.0.0.1 (idle ones take no CPU), taking turns round by round under 32 clients
sending one test sentence per request for ``--seconds``: requests/s and p50/p99 latency, the
best round of each.
Targets: fp32 at least 1.2x TF with identical labels; int8 at least 2x with macro F1 within 0.01.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from benchmarks.common import stop
from benchmarks.serve import first_answer, free_port, load
from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config
from pipeline.io import package_versions, write_json
from pipeline.model.onnx_classifier import BACKEND_FILES, ONNX_DIR
from pipeline.paths import Paths, RunDir
from pipeline.tasks import task_for
from pipeline.tasks.classification.metrics import macro_f1

logger = logging.getLogger("benchmarks.onnx")

TARGETS = {"onnx": 1.2, "onnx-int8": 2.0}
SERVE_CLIENTS = 32
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16")


def cpu_flags() -> dict[str, Any]:
    """The CPU model and which int8 dot-product instructions it has (/proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor(), "flags": {}}
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines()
                  if ln.startswith("flags")), [])  # fmt: skip
    name = next((ln.split(":", 1)[1].strip() for ln in info.splitlines()
                 if ln.startswith("model name")), "")  # fmt: skip
    return {"model": name, "flags": {f: f in flags for f in INT8_FLAGS}}


def timed(clf: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    logits = clf.predict_logits(texts)
    return logits, time.perf_counter() - t0


def bench(cfg: Config, rounds: int) -> dict[str, Any]:
    from pipeline.model.loading import resolve_model_ref
    from pipeline.tasks.classification.backends import classifier

    paths = Paths.from_config(cfg)
    ref = resolve_model_ref(paths, cfg.train.run_name, None)
    if not all((ref.run_dir / ONNX_DIR / f).is_file() for f in BACKEND_FILES.values()):
        from pipeline.export.stage import run as export

        logger.info("exporting %s first", ref.run_dir)
        export(cfg)
    task = task_for(cfg)
    test = pd.read_parquet(paths.split_file("test"))
    texts = task.examples(test)
    run = RunDir(ref.run_dir)
    label2id = {name: int(i) for i, name in run.read(RunDir.CONFIG)["id2label"].items()}
    y_true = test["label"].map(label2id).to_numpy()
    trained = run.read(RunDir.RECORD).get("config", {}).get("model", {}).get("max_seq_len")
    max_len = int(trained or cfg.model.max_seq_len)
    out: dict[str, Any] = {}
    for batch in (1, cfg.serve.max_batch_size):
        clfs = {b: classifier(task, ref, b, max_len, batch) for b in ("tf", *BACKEND_FILES)}
        for clf in clfs.values():
            clf.predict_logits(texts[: 2 * batch])  # warm-up: graphs traced, sessions ready
        best: dict[str, float] = {}
        logits: dict[str, np.ndarray] = {}
        for r in range(rounds):
            for backend, clf in clfs.items():
                logits[backend], secs = timed(clf, texts)
                best[backend] = min(best.get(backend, secs), secs)
                logger.info("batch %d round %d %s: %.2f s", batch, r + 1, backend, secs)
        tf_labels = logits["tf"].argmax(axis=1)
        tf_f1 = macro_f1(y_true, logits["tf"])
        rows = {}
        for backend in clfs:
            f1 = macro_f1(y_true, logits[backend])
            rows[backend] = {
                "sentences_per_s": round(len(texts) / best[backend], 1),
                "speedup_vs_tf": round(best["tf"] / best[backend], 2),
                "label_agreement_with_tf": round(
                    float((logits[backend].argmax(axis=1) == tf_labels).mean()), 4
                ),
                "max_abs_logit_diff_vs_tf": float(np.abs(logits[backend] - logits["tf"]).max()),
                "macro_f1": f1,
                "macro_f1_change": round(f1 - tf_f1, 6),
            }
        out[f"batch_{batch}"] = rows
    return {"n_sentences": len(texts), "rows": out}


def bench_serve(cli: list[str], texts: list[str], rounds: int, seconds: float
                ) -> dict[str, Any]:  # fmt: skip
    """Requests/s and p50/p99 at ``SERVE_CLIENTS`` clients of the service on each backend (the
    servers take turns, round by round; the best round of each counts)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1"}
    procs: dict[str, tuple[subprocess.Popen, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp, ExitStack() as logs:
        try:
            for backend in ("tf", *BACKEND_FILES):
                port = free_port()
                cmd = [sys.executable, "-m", "pipeline.serve", *cli, "--backend", backend]
                cmd += ["--port", str(port)]
                log = logs.enter_context(open(Path(tmp) / f"{backend}.log", "w"))
                proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                procs[backend] = (proc, f"http://127.0.0.1:{port}/predict")
            for proc, url in procs.values():
                asyncio.run(first_answer(url, proc))
            best: dict[str, dict[str, Any]] = {}
            for r in range(rounds):
                for backend, (_, url) in procs.items():
                    info = url.replace("/predict", "/info")
                    before = httpx.get(info).json()["batches"]
                    level = asyncio.run(load(url, SERVE_CLIENTS, seconds, texts))
                    after = httpx.get(info).json()["batches"]
                    calls = max(1, after["batches"] - before["batches"])
                    level["mean_batch"] = round(
                        (after["sentences"] - before["sentences"]) / calls, 1
                    )
                    logger.info("serve round %d %s: %s", r + 1, backend, level)
                    if level["requests_per_s"] > best.get(backend, {}).get("requests_per_s", 0):
                        best[backend] = level
        finally:
            for proc, _ in procs.values():
                stop(proc)
    for level in best.values():
        level["speedup_vs_tf"] = round(level["requests_per_s"] / best["tf"]["requests_per_s"], 2)
    return best


def verdict(rows: dict[str, dict[str, Any]]) -> dict[str, bool]:
    fp32, int8 = rows["onnx"], rows["onnx-int8"]
    return {
        "onnx": fp32["speedup_vs_tf"] >= TARGETS["onnx"] and fp32["label_agreement_with_tf"] == 1,
        "onnx-int8": int8["speedup_vs_tf"] >= TARGETS["onnx-int8"]
        and abs(int8["macro_f1_change"]) <= 0.01,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes per backend")
    parser.add_argument("--seconds", type=float, default=8.0, help="serve load per round")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        started, load = time.time(), os.getloadavg()[0]
        result = bench(cfg, args.rounds)
        texts = task_for(cfg).examples(pd.read_parquet(Paths.from_config(cfg).split_file("test")))
        cli = ["--config", args.config, *(f"--set={o}" for o in args.overrides)]
        serve = bench_serve(cli, texts, args.rounds, args.seconds)
        record = {
            "model": cfg.train.run_name,
            **result,
            "targets": {"speedup": TARGETS, "int8_max_f1_change": 0.01},
            "met": {k: verdict(v) for k, v in result["rows"].items()},
            "serve": {"clients": SERVE_CLIENTS, "seconds": args.seconds, "backends": serve},
            "cpu": cpu_flags(),
            "cpus": os.cpu_count(),
            "load_average_before": load,
            "versions": package_versions(),
            "duration_s": round(time.time() - started, 1),
        }
        path = Paths.from_config(cfg).root / "reports/bench/onnx.json"
        write_json(path, record)
        for batch, rows in result["rows"].items():
            line = ", ".join(
                f"{b} {r['sentences_per_s']}/s ({r['speedup_vs_tf']}x, "
                f"F1 {r['macro_f1_change']:+.4f})"
                for b, r in rows.items()
            )
            print(f"{batch}: {line}")  # noqa: T201
        line = ", ".join(f"{b} {r['requests_per_s']} req/s p99 {r['p99_ms']} ms"
                         for b, r in serve.items())  # fmt: skip
        print(f"serve at {SERVE_CLIENTS} clients: {line}")  # noqa: T201
        print(f"written {path}")  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
