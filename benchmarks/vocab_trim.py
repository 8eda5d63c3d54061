"""Training speed with the full 250k-piece vocabulary vs one trimmed to the corpus.

    python -m benchmarks.vocab_trim [--config configs/default.yaml] [--steps N]

The config's base model (multilingual-e5-small for the demo) twice, in one process: as
converted (250,037 embedding rows) and with ``model.trim_vocab`` (the rows the training texts
need). Both tokenize the same sentences into the same pieces (trimming keeps every piece the
texts use), so they run the same batches through the same Keras ``train_step`` with Adam;
what differs is the size of the embedding matrix that every Adam step updates and every
checkpoint writes. Steps alternate between the two sides so a busy machine slows both alike.
Writes reports/bench/vocab_trim.json.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import pandas as pd

from benchmarks.train import train_step_fn
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.fitting import length_buckets
from pipeline.io import package_versions, write_json
from pipeline.model.loading import load_base_classifier, load_tokenizer, resolve_base_model
from pipeline.model.vocab_trim import trimmed_checkpoint
from pipeline.paths import Paths

logger = logging.getLogger(__name__)


def side(checkpoint: Any, df: pd.DataFrame, cfg: Config, n_labels: int) -> dict[str, Any]:
    import tf_keras

    tokenizer = load_tokenizer(checkpoint)
    model = load_base_classifier(checkpoint, {i: str(i) for i in range(n_labels)})
    model.compile(
        optimizer=tf_keras.optimizers.Adam(cfg.train.learning_rate),
        loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    ids = length_buckets.encode(tokenizer, df["text"], cfg.model.max_seq_len)
    batches = list(
        length_buckets.batches(
            ids, df["label_id"].to_numpy(), cfg.train.batch_size, cfg.model.max_seq_len,
            tokenizer.pad_token_id or 0, seed=0,
        )
    )  # fmt: skip
    rows = int(model.bert.embeddings.weight.shape[0])
    return {"model": model, "batches": batches, "step": train_step_fn(model), "rows": rows}


def run(cfg: Config, steps: int | None) -> dict[str, Any]:
    paths = Paths.from_config(cfg)
    train_path, val_path = paths.split_file("train"), paths.split_file("validation")
    if not train_path.is_file():
        raise PipelineError(f"missing {train_path}: run `make data` first")
    df = pd.read_parquet(train_path, columns=["text", "label_id"])
    texts = [*df["text"], *pd.read_parquet(val_path, columns=["text"])["text"]]
    full = resolve_base_model(cfg.model.name_or_path, paths)
    trimmed = trimmed_checkpoint(full, texts, paths.base_models)
    n_labels = int(df["label_id"].max()) + 1
    sides = {
        "full_vocab": side(full, df, cfg, n_labels),
        "trimmed": side(trimmed, df, cfg, n_labels),
    }
    steps = min(steps or len(sides["trimmed"]["batches"]), len(sides["trimmed"]["batches"]))
    for s in sides.values():  # warm-up: every distinct width once, untimed
        seen = set()
        for x, y in s["batches"]:
            if x["input_ids"].shape[1] not in seen:
                seen.add(x["input_ids"].shape[1])
                float(s["step"](x, y))
    seconds = dict.fromkeys(sides, 0.0)
    for i in range(steps):
        for name, s in sides.items():
            start = time.perf_counter()
            float(s["step"](*s["batches"][i]))
            seconds[name] += time.perf_counter() - start
    samples = sum(len(y) for _, y in sides["trimmed"]["batches"][:steps])
    results = {
        name: {
            "embedding_rows": s["rows"],
            "weights": int(sum(w.shape.num_elements() for w in s["model"].trainable_weights)),
            "samples_per_s": round(samples / seconds[name], 2),
            "seconds": round(seconds[name], 3),
        }
        for name, s in sides.items()
    }
    report = {
        "benchmark": "train steps with the full vocabulary vs trimmed to the training texts",
        "model": cfg.model.name_or_path,
        "batch_size": cfg.train.batch_size,
        "steps": steps,
        "samples": samples,
        "results": results,
        "speedup": round(
            results["trimmed"]["samples_per_s"] / results["full_vocab"]["samples_per_s"], 3
        ),
        "versions": package_versions(),
    }
    write_json(paths.bench / "vocab_trim.json", report)
    logger.info("vocab trim: %s, speedup %.2fx", results, report["speedup"])
    return report


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_config_args(parser)
    parser.add_argument("--steps", type=int, default=None, help="steps per side (default: 1 epoch)")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        report = run(cfg, args.steps)
        r = report["results"]
        print(  # noqa: T201
            f"train steps: full vocabulary {r['full_vocab']['samples_per_s']} samples/s, "
            f"trimmed {r['trimmed']['samples_per_s']} samples/s ({report['speedup']}x)"
        )

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
