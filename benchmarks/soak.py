"""Soak: many clients send good and hostile requests at once; nothing may fail that should not.

    python -m benchmarks.soak [CONFIG ...] [--seconds 20] [--clients 8] [--secure off|on|both]

For each config (default: the four demos', configs/{default,nli-demo,ner-demo,gen-demo}.yaml)
serves its trained run (models/<train.run_name>: run the demos first; the emotion config falls
back to MiniLM with an untrained 58-label head, the others are skipped with a line saying which
demo to run) with ``python -m pipeline.serve`` in a subprocess on 127.0.0.1. Client threads
then send, for ``--seconds``, the task's mix of good requests and every kind of hostile one
the service refuses (benchmarks/soak_requests.py: lone surrogates, 5000-digit numbers, JSON nested
20,000 deep, zero-width text, bodies over the limit, unknown paths and methods, ..., and the
task's own), while one more client sends request bodies too slowly, NER's server also gets
5,000-character texts back to back, and a few connections are opened and never used.

Checks: every good request answered 200 with the task's answer shape, every bad one its 4xx
with ``{"error"}``, no 5xx, the slow client cut off with 408, the idle connections closed by the
server. Writes reports/bench/soak.json: per server, requests, answers by status, unexpected
answers, p50/p99 of the good ones (and of the long texts), idle connections closed, server RSS
at start and end.

``--secure on`` serves with an API key (every client sends it) and /metrics on, ``off`` with
neither (the default), ``both`` runs each config both ways, one after the other, and adds
``secure_vs_plain`` per config: good requests per second and p50/p99 side by side, so the cost
of the key check and the metrics is measured, not guessed.

``tests/test_soak.py`` runs the same ``soak()`` against tiny models in-process.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.common import stop
from benchmarks.soak_report import compare, line_of
from benchmarks.soak_requests import (
    Bad,
    bad_requests,
    check_bad,
    closed_by_server,
    idle_connections,
    mix_for,
    slow_body,
)
from pipeline.serve.keys import key_line, new_key

__all__ = ["Bad", "bad_requests", "rss_mb", "slow_body", "soak"]

logger = logging.getLogger("benchmarks.soak")

DEMOS = ["configs/default.yaml", "configs/nli-demo.yaml", "configs/ner-demo.yaml"]
DEMOS += ["configs/gen-demo.yaml"]
DEMO_OF = {"nli-demo": "make demo-nli", "ner-demo": "make demo-ner", "gen-demo": "make demo-gen"}
IDLE_CONNECTIONS = 20


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


@dataclass
class Tally:
    """What the clients saw, under a lock."""

    statuses: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    long_latencies: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    bad_kinds: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, name: str) -> None:
        with self.lock:
            self.bad_kinds[name] += 1

    def add(self, kind: str, status: int, latency: float | None, problem: str | None) -> None:
        with self.lock:
            self.statuses[str(status)] += 1
            self.by_kind[kind] += 1
            if latency is not None:
                (self.long_latencies if kind == "long" else self.latencies).append(latency)
            if problem and len(self.unexpected) < 50:
                self.unexpected.append(problem)


def _percentiles(seconds: list[float]) -> tuple[float, float, float]:
    ms = np.array(seconds) * 1000 if seconds else np.zeros(1)
    p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
    return round(float(p50), 1), round(float(p99), 1), round(float(ms.max()), 1)


def soak(
    base_url: str,
    seconds: float,
    clients: int,
    rss: Callable[[], float],
    body_timeout_s: float,
    bad_share: float = 0.4,
    seed: int = 0,
    idle: int = IDLE_CONNECTIONS,
    key: str | None = None,
) -> dict[str, Any]:
    """Run the task's mix against ``base_url`` for ``seconds`` (every hostile kind once first);
    the tally as a JSON-ready dict.

    ``rss()`` gives the server's resident memory in MB; it is read before and after. ``key``:
    every request carries it as its bearer API key.
    """
    auth = {"authorization": f"Bearer {key}"} if key else {}
    info = httpx.get(f"{base_url}/info", timeout=30, headers=auth).json()
    mix = mix_for(info)
    tally = Tally()
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    alone_ms = None
    if mix.long_text:  # the long text once on an idle server, then among the others
        t0 = time.perf_counter()
        httpx.post(f"{base_url}/predict", json={"inputs": mix.long_text}, timeout=120, headers=auth)
        alone_ms = round((time.perf_counter() - t0) * 1000, 1)
    rss_start = rss()
    idlers = idle_connections(host, int(port), idle)
    until = time.monotonic() + seconds

    def send_bad(http: httpx.Client, bad: Bad) -> None:
        tally.seen(bad.name)
        try:
            r = http.request(bad.method, bad.path, content=bad.content, headers=bad.headers)
        except httpx.TransportError as exc:
            tally.add("bad", 0, None, f"{bad.name}: {type(exc).__name__}: {exc}")
            return
        tally.add("bad", r.status_code, None, check_bad(r, bad))

    def client(i: int) -> None:
        rng = random.Random(seed + i)
        sent = i * len(mix.bads) // clients  # each walks the bad kinds from its own place
        with httpx.Client(base_url=base_url, timeout=60, headers=auth) as http:
            if i == 0:  # every kind at least once, however slow the server
                for bad in mix.bads:
                    send_bad(http, bad)
            while time.monotonic() < until:
                if rng.random() < bad_share:
                    send_bad(http, mix.bads[sent % len(mix.bads)])
                    sent += 1
                else:
                    body, check = mix.good(rng)
                    t0 = time.perf_counter()
                    try:
                        r = http.post("/predict", json=body)
                    except httpx.TransportError as exc:
                        tally.add("good", 0, None, f"good request: {type(exc).__name__}: {exc}")
                        continue
                    tally.add("good", r.status_code, time.perf_counter() - t0, check(r))

    def long_client() -> None:
        with httpx.Client(base_url=base_url, timeout=120, headers=auth) as http:
            while time.monotonic() < until:
                t0 = time.perf_counter()
                r = http.post("/predict", json={"inputs": mix.long_text})
                problem = None if r.status_code == 200 else f"long text got {r.status_code}"
                tally.add("long", r.status_code, time.perf_counter() - t0, problem)

    def slow_client() -> None:
        while time.monotonic() < until:
            problem = slow_body(host, int(port), body_timeout_s, key)
            tally.add("slow body", 408 if problem is None else 0, None, problem)

    rss_samples: list[float] = []

    def memory() -> None:  # the server's RSS in ten steps: growth that goes on is a leak
        while time.monotonic() < until:
            rss_samples.append(round(rss(), 1))
            time.sleep(seconds / 10)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads += [threading.Thread(target=slow_client), threading.Thread(target=memory)]
    if mix.long_text:
        threads.append(threading.Thread(target=long_client))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    idle_closed = closed_by_server(idlers, info["serve"]["keep_alive_s"] + 10)
    if idle_closed < idle:
        tally.unexpected.append(f"{idle - idle_closed} of {idle} idle connections still open")
    p50, p99, _ = _percentiles(tally.latencies)
    out = {
        "task": info["task"],
        "seconds": round(elapsed, 1),
        "clients": clients,
        "requests": sum(tally.statuses.values()),
        "good": tally.by_kind["good"],
        "bad": tally.by_kind["bad"],
        "slow_bodies": tally.by_kind["slow body"],
        "by_status": dict(sorted(tally.statuses.items())),
        "errors_5xx": sum(n for s, n in tally.statuses.items() if s.startswith("5")),
        "unexpected": tally.unexpected,
        "good_p50_ms": p50,
        "good_p99_ms": p99,
        "idle_connections": idle,
        "idle_closed": idle_closed,
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss(), 1),
        "rss_samples_mb": rss_samples,
        "bad_kinds": {b.name: tally.bad_kinds[b.name] for b in mix.bads},
    }
    if mix.long_text:
        long_p50, _, long_max = _percentiles(tally.long_latencies)
        out |= {
            "long_text_chars": len(mix.long_text),
            "long_alone_ms": alone_ms,
            "long_requests": tally.by_kind["long"],
            "long_p50_ms": long_p50,
            "long_max_ms": long_max,
        }
    return out


# --------------------------------------------------------------------------------------------
# make bench: the demo models, one server subprocess each
# --------------------------------------------------------------------------------------------


def _model_dir(cfg: Any, tmp: Path) -> Path | None:
    """The config's trained run; MiniLM with an untrained head for a classifier without one;
    None for the other tasks (their demo trains one)."""
    from pipeline.paths import Paths

    paths = Paths.from_config(cfg)
    run_dir = paths.run_dir(cfg.train.run_name)
    if (run_dir / "config.json").is_file():
        return run_dir
    if cfg.task != "text-classification":
        return None
    from benchmarks.serve import make_run

    logger.info("no trained run at %s: serving MiniLM with an untrained head", run_dir)
    return make_run(paths, tmp / "minilm-58")


def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=10).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready within {timeout:g} s")


def soak_config(config: str, seconds: float, clients: int, secure: bool = False) -> dict[str, Any]:
    """Serve ``config``'s run in a subprocess and soak it: its part of soak.json. ``secure``:
    with an API key and /metrics on (else neither)."""
    from benchmarks.serve import free_port
    from pipeline.config import load_config
    from pipeline.paths import Paths

    cfg = load_config(config)
    body_timeout_s = 2.0
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        model = _model_dir(cfg, Path(tmp))
        if model is None:
            run_name = cfg.train.run_name
            how = DEMO_OF.get(run_name, f"make train CONFIG={config}")
            logger.warning("%s: no run models/%s: skipped (%s first)", config, run_name, how)
            return {"config": config, "skipped": f"no trained run models/{run_name} ({how})"}
        port = free_port()
        cmd = [sys.executable, "-m", "pipeline.serve", "--config", config, "--model", str(model)]
        cmd += ["--port", str(port), "--set", f"serve.body_timeout_s={body_timeout_s}"]
        key = new_key() if secure else None
        if key:
            (Path(tmp) / "keys.txt").write_text(key_line(key, "soak") + "\n", encoding="utf-8")
            cmd += ["--set", f"serve.api_keys_file={Path(tmp) / 'keys.txt'}"]
        cmd += ["--set", f"serve.metrics={str(secure).lower()}"]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1"}
        log = Path(tmp) / "log"
        url = f"http://127.0.0.1:{port}"
        with open(log, "w") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
            try:
                _wait_ready(url, proc)
                rss = lambda: rss_mb(proc.pid)  # noqa: E731
                result = soak(url, seconds, clients, rss, body_timeout_s, key=key)
            except Exception:
                logger.error("server log:\n%s", log.read_text()[-3000:])
                raise
            finally:
                stop(proc)
        result["server_exit_code"] = proc.returncode
    trained = model.parent == Paths.from_config(cfg).models
    return {
        "config": config,
        "secure": "api key + metrics" if secure else "no key, no metrics",
        "model": model.name if trained else "MiniLM + untrained 58-label head",
        **result,
        "passed": not result["unexpected"] and result["errors_5xx"] == 0,
    }


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import setup_logging
    from pipeline.config import load_config
    from pipeline.errors import PipelineError
    from pipeline.io import package_versions, write_json
    from pipeline.paths import Paths

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", default=DEMOS, help="configs whose runs to serve")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to soak each")
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument(
        "--secure",
        choices=["off", "on", "both"],
        default="off",
        help="serve with an API key and /metrics (on), without (off), or each way (both)",
    )
    args = parser.parse_args(argv)
    if not args.seconds > 0 or args.clients < 1:
        parser.error("--seconds must be above 0 and --clients at least 1")
    setup_logging()
    load_start = os.getloadavg()[0]
    try:
        bench = Paths.from_config(load_config(args.configs[0])).bench
        for config in args.configs[1:]:  # every config is checked before the first soak
            load_config(config)
        ways = {"off": [False], "on": [True], "both": [False, True]}[args.secure]
        servers = [
            soak_config(c, args.seconds, args.clients, secure)
            for c in args.configs
            for secure in ways
        ]
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    report = {
        "servers": servers,
        "secure_vs_plain": compare(servers),
        "passed": all(s.get("passed", True) for s in servers),
        "skipped": [s["config"] for s in servers if "skipped" in s],
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": load_start},
        "versions": package_versions(),
    }
    write_json(bench / "soak.json", report)
    for r in servers:
        print(line_of(r))  # noqa: T201
        for problem in r.get("unexpected", [])[:10]:
            logger.error("unexpected: %s", problem)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
