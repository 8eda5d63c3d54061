"""Memory of several models on one port: one demo-size model vs two behind the same server.

    python -m benchmarks.two_models [--config configs/default.yaml]

The config's trained run (``make demo`` first: models/demo, multilingual-e5-small with the
vocabulary cut to the corpus's pieces and a 58-label head) is served by ``python -m
pipeline.serve`` once with ``--model a=RUN`` and once with ``--model a=RUN --model b=RUN``;
after every model answered a request, the server's resident memory is read. Without a trained
run, the config's base model with an untrained 58-label head stands in (its full 250k-piece
vocabulary: four times the demo's weights, the report says which was used).
Writes reports/bench/two_models.json: RSS of each, and what the second model added.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import stop
from benchmarks.serve import free_port
from benchmarks.soak import _wait_ready, rss_mb

logger = logging.getLogger("benchmarks.two_models")
N_LABELS = 58


def demo_size_run(cfg: Any, out: Path) -> Path:
    """The config's base model with an untrained head of 58 labels, as a run directory."""
    from pipeline.io import write_json
    from pipeline.model.loading import load_base_classifier, load_tokenizer, resolve_base_model
    from pipeline.paths import Paths

    base = resolve_base_model(cfg.model.name_or_path, Paths.from_config(cfg))
    id2label = {i: f"감정_{i:02d}" for i in range(N_LABELS)}
    load_base_classifier(base, id2label).save_pretrained(str(out))
    load_tokenizer(base).save_pretrained(str(out))
    write_json(out / "labels.json", {"id2label": {str(i): n for i, n in id2label.items()}})
    return out


def served_rss(config: str, names: list[str], run: Path, log: Path) -> float:
    """RSS in MB of one server holding ``names`` (each the same run), after each answered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "pipeline.serve", "--config", config, "--port", str(port)]
    for name in names:
        cmd += ["--model", f"{name}={run}"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(url, proc)
            for name in names:
                body = {"inputs": ["오늘 정말 기뻐요", "친구가 약속을 어겼어"]}
                r = httpx.post(f"{url}/models/{name}/predict", json=body, timeout=60)
                r.raise_for_status()
            time.sleep(1)
            return rss_mb(proc.pid)
        except Exception:
            logger.error("server log:\n%s", log.read_text()[-3000:])
            raise
        finally:
            stop(proc)


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import setup_logging
    from pipeline.config import load_config
    from pipeline.io import package_versions, write_json
    from pipeline.paths import Paths

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/default.yaml")
    args = parser.parse_args(argv)
    setup_logging()
    cfg = load_config(args.config)
    trained = Paths.from_config(cfg).run_dir(cfg.train.run_name)
    with tempfile.TemporaryDirectory(prefix="bench-two-") as tmp:
        if (trained / "config.json").is_file():
            run, what = trained, f"trained run {trained.name}"
        else:
            run = demo_size_run(cfg, Path(tmp) / "base-size")
            what = f"{cfg.model.name_or_path} + untrained {N_LABELS}-label head (no trained run)"
        weights_mb = round(sum(f.stat().st_size for f in run.glob("*.h5")) / 2**20, 1)
        one = served_rss(args.config, ["a"], run, Path(tmp) / "one.log")
        two = served_rss(args.config, ["a", "b"], run, Path(tmp) / "two.log")
    report = {
        "model": what,
        "rss_one_model_mb": round(one, 1),
        "rss_two_models_mb": round(two, 1),
        "second_model_adds_mb": round(two - one, 1),
        "weights_file_mb": weights_mb,
        "versions": package_versions(),
    }
    write_json(Paths.from_config(cfg).bench / "two_models.json", report)
    logger.info(
        "one model %.0f MB, two models %.0f MB: the second adds %.0f MB", one, two, two - one
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
