"""Soak: many clients send good and hostile requests at once; nothing may fail that should not.

    python -m benchmarks.soak [--config configs/default.yaml] [--seconds 20] [--clients 8]

Serves the config's trained run (models/<train.run_name>, the demo model after ``make demo``;
without one, MiniLM with an untrained 58-label head as ``benchmarks.serve`` builds it) with
``python -m pipeline.serve`` in a subprocess on 127.0.0.1. Several client threads then send,
for ``--seconds``, a mix of good requests and every kind of bad one the service refuses
(``BAD_REQUESTS``: lone surrogates in text and in field names, 5000-digit numbers, JSON nested
20,000 deep, zero-width and NUL-only text, non-object parameters, unknown paths and methods,
...), and one more client sends request bodies too slowly. Checks: every good request answered
200 with one list of ``top_k`` labels per input, every bad one its 4xx with ``{"error"}``, no
5xx, the slow client cut off with 408. Writes reports/bench/soak.json: requests, answers by
status, unexpected answers, p50/p99 of the good ones, server RSS at start and end.

``tests/test_soak.py`` runs the same ``soak()`` against the tiny model in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import socket
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

logger = logging.getLogger("benchmarks.soak")

JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Bad:
    """One hostile request and the 4xx it must get."""

    name: str
    status: int
    content: bytes = b""
    method: str = "POST"
    path: str = "/predict"
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def bad_requests(max_body_bytes: int) -> list[Bad]:
    """Every refused request kind; the big ones sized to fit ``max_body_bytes`` (or not)."""
    digits = b"1" * 5000
    depth = min(20_000, (max_body_bytes - 20) // 2)
    return [
        Bad("invalid JSON", 400, b'{"inputs": "abc'),
        Bad("wrong content type", 415, b'{"inputs": "a"}', headers={"content-type": "text/plain"}),
        Bad("lone surrogate in inputs", 422, '{"inputs": ["좋아요", "\\ud800"]}'.encode()),
        Bad("lone surrogate in a field name", 422, b'{"\\udc80": 1, "inputs": "a"}'),
        Bad("lone surrogate in a parameter", 422, b'{"inputs": "a", "parameters": {"\\ud800": 1}}'),
        Bad("5000-digit top_k", 400, b'{"inputs": "a", "parameters": {"top_k": ' + digits + b"}}"),
        Bad("5000-digit input", 400, b'{"inputs": [' + digits + b"]}"),
        Bad(f"JSON nested {depth} deep", 400, b"[" * depth + b"]" * depth),
        Bad("JSON nested 40 deep in inputs", 400, b'{"inputs": ' + b"[" * 40 + b"]" * 40 + b"}"),
        Bad("NaN top_k", 400, b'{"inputs": "a", "parameters": {"top_k": NaN}}'),
        Bad("zero-width only", 422, '{"inputs": "\u200b\u200d\ufeff"}'.encode()),
        Bad("NUL only", 422, b'{"inputs": ["\\u0000", "a"]}'),
        Bad("parameters 0", 422, b'{"inputs": "a", "parameters": 0}'),
        Bad('parameters ""', 422, b'{"inputs": "a", "parameters": ""}'),
        Bad("empty text", 422, b'{"inputs": " "}'),
        Bad("missing inputs", 422, b'{"parameters": {}}'),
        Bad("top_k zero", 422, b'{"inputs": "a", "parameters": {"top_k": 0}}'),
        Bad("body over the limit", 413, b'{"inputs": "' + b"a" * max_body_bytes + b'"}'),
        Bad("unknown path", 404, method="GET", path="/nope"),
        Bad("wrong method", 405, method="GET", path="/predict"),
    ]


GOOD_TEXTS = [
    "친구가 선물을 줬어. 고마워요",
    "오늘 약속을 어겼어. 화가 나요 정말 열받아요",
    "시험 결과를 알려줬어. 걱정돼요",
    "여행을 가자고 했어. 신나요",
    "회사에서 갑자기 혼이 났어",
]


def good_request(rng: random.Random, max_inputs: int, num_labels: int) -> tuple[dict, int, int]:
    """A good body, the number of answers it must get and the top_k each must have."""
    n = rng.randint(1, max(1, min(3, max_inputs)))
    texts = [f"{rng.choice(GOOD_TEXTS)} {rng.randint(0, 999)}" for _ in range(n)]
    k = rng.randint(1, num_labels)
    body: dict[str, Any] = {"inputs": texts if n > 1 else texts[0], "parameters": {"top_k": k}}
    return body, n, k


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def slow_body(host: str, port: int, body_timeout_s: float) -> str | None:
    """Send headers and a body that stalls half-way; None if the server answers 408 and closes
    the connection, else what went wrong."""
    with socket.create_connection((host, port), timeout=body_timeout_s + 10) as sock:
        head = (
            "POST /predict HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"inputs": "')
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except TimeoutError:
            return f"the connection was still open {body_timeout_s + 10:g} s later"
    if not received.startswith(b"HTTP/1.1 408"):
        return f"slow body got {received[:60]!r}, not 408"
    return None


@dataclass
class Tally:
    """What the clients saw, under a lock."""

    statuses: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
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
                self.latencies.append(latency)
            if problem and len(self.unexpected) < 50:
                self.unexpected.append(problem)


def _check_good(response: httpx.Response, n: int, k: int, labels: set[str]) -> str | None:
    if response.status_code != 200:
        return f"good request got {response.status_code}: {response.text[:200]}"
    body = response.json()
    if not (isinstance(body, list) and len(body) == n and all(len(a) == k for a in body)):
        return f"good request: wrong shape {str(body)[:200]}"
    for answer in body:
        scores = [a["score"] for a in answer]
        if scores != sorted(scores, reverse=True) or not {a["label"] for a in answer} <= labels:
            return f"good request: unsorted or unknown labels {answer}"
    return None


def _check_bad(response: httpx.Response, bad: Bad) -> str | None:
    if response.status_code != bad.status:
        return f"{bad.name}: got {response.status_code}, not {bad.status}: {response.text[:200]}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{bad.name}: the answer has no JSON error field: {response.text[:200]}"
    return None if isinstance(error, str) and error else f"{bad.name}: empty error"


def soak(
    base_url: str,
    seconds: float,
    clients: int,
    rss: Callable[[], float],
    body_timeout_s: float,
    bad_share: float = 0.4,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the mix against ``base_url`` for ``seconds``; the tally as a JSON-ready dict.

    ``rss()`` gives the server's resident memory in MB; it is read before and after.
    """
    info = httpx.get(f"{base_url}/info", timeout=30).json()
    labels = set(info["labels"])
    limits = info["serve"]
    bads = bad_requests(limits["max_body_bytes"])
    tally = Tally()
    rss_start = rss()
    until = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(seed + i)
        sent = i  # each client walks the bad kinds in turn, from its own place
        with httpx.Client(base_url=base_url, timeout=60) as http:
            while time.monotonic() < until:
                if rng.random() < bad_share:
                    bad = bads[sent % len(bads)]
                    sent += 1
                    tally.seen(bad.name)
                    try:
                        r = http.request(
                            bad.method, bad.path, content=bad.content, headers=bad.headers
                        )
                    except httpx.TransportError as exc:
                        tally.add("bad", 0, None, f"{bad.name}: {type(exc).__name__}: {exc}")
                        continue
                    tally.add("bad", r.status_code, None, _check_bad(r, bad))
                else:
                    body, n, k = good_request(rng, limits["max_inputs"], len(labels))
                    t0 = time.perf_counter()
                    try:
                        r = http.post("/predict", json=body)
                    except httpx.TransportError as exc:
                        tally.add("good", 0, None, f"good request: {type(exc).__name__}: {exc}")
                        continue
                    problem = _check_good(r, n, k, labels)
                    tally.add("good", r.status_code, time.perf_counter() - t0, problem)

    def slow_client() -> None:
        host, port = base_url.removeprefix("http://").rsplit(":", 1)
        while time.monotonic() < until:
            problem = slow_body(host, int(port), body_timeout_s)
            tally.add("slow body", 408 if problem is None else 0, None, problem)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    threads.append(threading.Thread(target=slow_client))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ms = np.array(tally.latencies) * 1000 if tally.latencies else np.zeros(1)
    return {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "requests": sum(tally.statuses.values()),
        "good": tally.by_kind["good"],
        "bad": tally.by_kind["bad"],
        "slow_bodies": tally.by_kind["slow body"],
        "by_status": dict(sorted(tally.statuses.items())),
        "errors_5xx": sum(n for s, n in tally.statuses.items() if s.startswith("5")),
        "unexpected": tally.unexpected,
        "good_p50_ms": round(float(np.percentile(ms, 50)), 1),
        "good_p99_ms": round(float(np.percentile(ms, 99)), 1),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss(), 1),
        "bad_kinds": {b.name: tally.bad_kinds[b.name] for b in bads},
    }


# --------------------------------------------------------------------------------------------
# make bench: the demo model in a subprocess
# --------------------------------------------------------------------------------------------


def _model_dir(cfg: Any, tmp: Path) -> Path:
    from pipeline.paths import Paths

    paths = Paths.from_config(cfg)
    run_dir = paths.run_dir(cfg.train.run_name)
    if (run_dir / "config.json").is_file():
        return run_dir
    from benchmarks.serve import make_run

    logger.info("no trained run at %s: serving MiniLM with an untrained head", run_dir)
    return make_run(paths, tmp / "minilm-58")


def run(cfg: Any, cli: list[str], seconds: float, clients: int) -> dict[str, Any]:
    from benchmarks.serve import first_answer, free_port
    from pipeline.io import package_versions, write_json
    from pipeline.paths import Paths

    body_timeout_s = 2.0
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        model = _model_dir(cfg, Path(tmp))
        port = free_port()
        cmd = [sys.executable, "-m", "pipeline.serve", *cli, "--model", str(model)]
        cmd += ["--port", str(port), "--set", f"serve.body_timeout_s={body_timeout_s}"]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1"}
        log = Path(tmp) / "log"
        url = f"http://127.0.0.1:{port}"
        with open(log, "w") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
            try:
                asyncio.run(first_answer(f"{url}/predict", proc))
                result = soak(url, seconds, clients, lambda: rss_mb(proc.pid), body_timeout_s)
            except Exception:
                logger.error("server log:\n%s", log.read_text()[-3000:])
                raise
            finally:
                stop(proc)
        result["server_exit_code"] = proc.returncode
    trained = model.parent == Paths.from_config(cfg).models
    report = {
        "model": model.name if trained else "MiniLM + untrained 58-label head",
        **result,
        "passed": not result["unexpected"] and result["errors_5xx"] == 0,
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()[0]},
        "versions": package_versions(),
    }
    write_json(Paths.from_config(cfg).bench / "soak.json", report)
    return report


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_args(parser)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to soak")
    parser.add_argument("--clients", type=int, default=8, help="client threads")

    def work(args: argparse.Namespace, cfg: Any) -> None:
        cli = ["--config", args.config, *(f"--set={o}" for o in args.overrides)]
        r = run(cfg, cli, args.seconds, args.clients)
        print(  # noqa: T201
            f"{r['requests']} requests ({r['good']} good, {r['bad']} bad, {r['slow_bodies']} "
            f"slow) by status {r['by_status']}; unexpected {len(r['unexpected'])}; good p50/p99 "
            f"{r['good_p50_ms']}/{r['good_p99_ms']} ms; RSS {r['rss_start_mb']} -> "
            f"{r['rss_end_mb']} MB; passed: {r['passed']}"
        )
        for problem in r["unexpected"][:10]:
            logger.error("unexpected: %s", problem)

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
