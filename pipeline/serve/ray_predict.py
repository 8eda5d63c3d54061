"""Batch prediction with Ray Data: ``python -m pipeline.serve.predict ... --input F --ray``.

    python -m pipeline.serve.predict --config C --model RUN --input big.parquet --column text \
        --output labeled.parquet --ray [--actors N] [--gpus-per-actor G]

The same answers and columns as the local path (pipeline/serve/predict.py), in input order.
The driver reads and checks the table as the local path does (.xlsx, .csv or .parquet: every
input column is written back); its sentence column(s) go as a Ray Dataset, in blocks of
``ROWS_PER_CALL`` rows, to ``map_batches`` over an actor pool of ``--actors`` model copies, each
loading the model once (the task's labeller), reserving one CPU and ``--gpus-per-actor``
GPUs (refused at once when no node has that many: an actor that cannot start waits forever).
The driver gathers the prediction columns in order, joins them to the input table and writes
the output file at once (atomically). Each actor loads ``--model`` itself: a run directory
must be on a shared filesystem at the same path on every node, or use a Hub id.
"""

from __future__ import annotations

import argparse
import logging
import math
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.loaded import resolve
from pipeline.model.loading import check_tokenizer_files
from pipeline.ray_connect import check_actor_fits, ray_session

logger = logging.getLogger("pipeline.serve.predict")

ROWS_PER_CALL = 1024  # rows an actor labels per call (sorted by length inside it)


class Labeler:
    """One model copy in a Ray actor: a pandas batch in, the task's prediction columns out."""

    def __init__(self, cfg: Config, model: str | None, batch_size: int, column: str,
                 pair_column: str | None, threads: int) -> None:  # fmt: skip
        import os

        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(threads))  # before TF starts
        from pipeline.tasks import task_for

        self.labeller = task_for(cfg).labeller(cfg, model, batch_size)
        self.labeller.loaded  # noqa: B018  (the model loads once, when the actor starts)
        self.column, self.pair_column = column, pair_column

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        labeled = self.labeller.table(batch, self.column, self.pair_column)
        return labeled.drop(columns=list(batch.columns))


def label_file_on_ray(args: argparse.Namespace, cfg: Config, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (the checked --input table) with the columns the local path adds, computed by the
    task's labeller in the actors."""
    if args.actors < 1:
        raise PipelineError(f"--actors must be at least 1, got {args.actors}")
    if args.gpus_per_actor < 0:
        raise PipelineError(f"--gpus-per-actor must be 0 or more, got {args.gpus_per_actor}")
    ref = resolve(cfg, args.model)  # a missing model fails here, before Ray starts
    check_tokenizer_files(ref)
    # the actors run in Ray's working directory: they get the run's absolute path (or Hub id)
    model = str(ref.run_dir) if ref.run_dir is not None else ref.hub_id
    columns = [c for c in (args.column, args.pair_column) if c is not None]
    with ray_session() as ray:
        check_actor_fits(ray, args.gpus_per_actor, "--gpus-per-actor")  # before any work
        gpus = ray.cluster_resources().get("GPU", 0)
        if args.gpus_per_actor and args.actors * args.gpus_per_actor > gpus:
            logger.warning(
                "%d actors x %g GPU(s) is more than the cluster's %g GPUs: the actors that fit "
                "do the work, the others wait", args.actors, args.gpus_per_actor, gpus,
            )  # fmt: skip
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # rows come back in input order
        ctx.enable_progress_bars = False  # this module logs the progress
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # Only the sentence columns travel, in blocks of ROWS_PER_CALL rows (an actor's unit of
        # work): cells (numbers, dates) become text as the local path reads them.
        texts = pd.DataFrame(
            {c: [None if _missing(v) else str(v) for v in df[c]] for c in columns}, dtype=object
        )
        blocks = [texts.iloc[i : i + ROWS_PER_CALL] for i in range(0, len(texts), ROWS_PER_CALL)]
        ds = ray.data.from_pandas(blocks or [texts])
        threads = max(1, int(ray.cluster_resources().get("CPU", 1) // args.actors))
        labeled = ds.map_batches(
            Labeler,
            fn_constructor_kwargs={
                "cfg": cfg,
                "model": model,
                "batch_size": args.batch_size,
                "column": args.column,
                "pair_column": args.pair_column,
                "threads": 1 if args.gpus_per_actor else threads,
            },
            batch_size=ROWS_PER_CALL,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=args.actors),
            num_cpus=1,
            num_gpus=args.gpus_per_actor or None,
        )
        logger.info("predict on Ray: %d rows, %d actors", len(df), args.actors)
        parts, done = [], 0
        for part in labeled.iter_batches(batch_format="pandas", batch_size=None):
            parts.append(part)
            done += len(part)
            logger.info("predict: %d/%d rows", done, len(df))
    preds = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(preds) != len(df):  # a broken invariant, not bad input
        raise RuntimeError(f"Ray returned {len(preds)} rows for {len(df)}")
    # as lists, as the local path assigns them: an empty row's label is None, its score NaN
    values = {c: [None if _missing(v) else v for v in preds[c].tolist()] for c in preds.columns}
    return df.assign(**values)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
