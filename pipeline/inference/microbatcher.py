"""Micro-batching: requests that arrive close together run through the model as one batch.

The web service's event loop must never run the model itself (a forward pass blocks for
milliseconds to seconds), and running requests one by one wastes the matrix hardware. So every
request becomes a job on a queue; one worker thread takes the first waiting job, waits up to
``max_wait_ms`` for more, stops early once ``max_batch_size`` sentences are gathered, runs the
model once on all of them, and hands each job its own rows back on the job's event loop.

    batcher = MicroBatcher(classifier.predict_proba, max_batch_size=32, max_wait_ms=5)
    batcher.start()
    probs = await batcher.submit(["오늘 너무 기뻐요"])   # (1, num_labels), inside a coroutine
    batcher.stop()

A job is never split: one with more sentences than ``max_batch_size`` runs alone (the predict
function batches it further). With ``max_batch_size=1`` every job runs alone: the same service
without micro-batching. When a batch of several jobs fails, each job runs again on its own, so
only the job that breaks the model gets the error.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

PredictFn = Callable[[list[str]], np.ndarray]
# (inputs in the batch, each job's seconds in the queue, seconds in the model): /metrics
OnBatch = Callable[[int, list[float], float], None]


@dataclass
class _Job:
    texts: list[str]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    queued: float = field(default_factory=time.monotonic)


@dataclass
class BatchStats:
    """Counts since start: how many model calls, and how many jobs and sentences they carried."""

    batches: int = 0
    jobs: int = 0
    sentences: int = 0
    largest: int = 0

    def as_dict(self) -> dict[str, float | int]:
        mean = self.sentences / self.batches if self.batches else 0.0
        return {
            "batches": self.batches,
            "jobs": self.jobs,
            "sentences": self.sentences,
            "largest_batch": self.largest,
            "mean_batch": round(mean, 2),
        }


_STOP = object()


class MicroBatcher:
    """Gathers submitted sentence lists into batches for ``predict`` on one worker thread."""

    def __init__(
        self,
        predict: PredictFn,
        max_batch_size: int,
        max_wait_ms: float,
        on_batch: OnBatch | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.stats = BatchStats()
        self.on_batch = on_batch
        self._queue: queue.Queue = queue.Queue()
        self._carry: _Job | None = None  # a job that did not fit the previous batch
        self._thread: threading.Thread | None = None

    # -- the event-loop side ------------------------------------------------------------------
    async def submit(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities for ``texts`` (one row each), computed in some batch on the worker."""
        if self._thread is None or not self._thread.is_alive():
            raise RuntimeError("the batcher is not running")
        loop = asyncio.get_running_loop()
        job = _Job(list(texts), loop.create_future(), loop)
        self._queue.put(job)
        return await job.future

    def enqueue(self, texts: Sequence[str], loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        """Queue a job from ``loop``'s thread without awaiting it (tests queue before start)."""
        job = _Job(list(texts), loop.create_future(), loop)
        self._queue.put(job)
        return job.future

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._work, name="micro-batcher", daemon=True)
        self._thread.start()

    def depth(self) -> int:
        """Jobs waiting for the worker (/metrics' queue depth)."""
        return self._queue.qsize() + (self._carry is not None)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the jobs queued before this call (the app stops only once its requests
        were answered or ``serve.drain_s`` ran out), fail any left after ``timeout``, and end
        the worker."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None
        leftover = [self._carry] if self._carry else []
        self._carry = None
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Job):
                leftover.append(item)
        for job in leftover:
            _resolve(job, error=RuntimeError("the service is shutting down"))

    # -- the worker side ------------------------------------------------------------------------
    def _next_batch(self) -> list[_Job] | None:
        """Block for a first job, then gather more until the size or the wait runs out."""
        first = self._carry if self._carry is not None else self._queue.get()
        self._carry = None
        if first is _STOP:
            return None
        jobs, size = [first], len(first.texts)
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # end after this batch
                break
            if size + len(item.texts) > self.max_batch_size:
                self._carry = item  # starts the next batch
                break
            jobs.append(item)
            size += len(item.texts)
        return jobs

    def _work(self) -> None:
        while True:
            jobs = self._next_batch()
            if jobs is None:
                return
            jobs = [j for j in jobs if not j.future.cancelled()]  # the client went away
            if not jobs:
                continue
            texts = [t for job in jobs for t in job.texts]
            started = time.monotonic()
            try:
                probs = self.predict(texts)
            except Exception as exc:  # noqa: BLE001  (one bad job must not fail the others)
                if len(jobs) == 1:
                    logger.exception("prediction failed for a job of %d sentences", len(texts))
                    _resolve(jobs[0], error=exc)
                    continue
                logger.warning(
                    "a batch of %d jobs failed (%s: %s): running them one by one",
                    len(jobs),
                    type(exc).__name__,
                    exc,
                )
                for job in jobs:
                    self._run_alone(job)
                continue
            self._count(len(jobs), len(texts))
            self._report(jobs, len(texts), started)
            start = 0
            for job in jobs:
                _resolve(job, result=probs[start : start + len(job.texts)])
                start += len(job.texts)

    def _run_alone(self, job: _Job) -> None:
        """Retry one job of a failed batch by itself: only the job that breaks the model fails."""
        started = time.monotonic()
        try:
            probs = self.predict(job.texts)
        except Exception as exc:  # noqa: BLE001  (this job's own error)
            logger.exception("prediction failed for a job of %d sentences", len(job.texts))
            _resolve(job, error=exc)
            return
        self._count(1, len(job.texts))
        self._report([job], len(job.texts), started)
        _resolve(job, result=probs)

    def _report(self, jobs: list[_Job], size: int, started: float) -> None:
        if self.on_batch is None:
            return
        try:
            self.on_batch(size, [started - j.queued for j in jobs], time.monotonic() - started)
        except Exception:  # noqa: BLE001  (metrics must never fail an answer)
            logger.exception("recording a batch failed")

    def _count(self, jobs: int, sentences: int) -> None:
        s = self.stats
        s.batches += 1
        s.jobs += jobs
        s.sentences += sentences
        s.largest = max(s.largest, sentences)


def _resolve(
    job: _Job, result: np.ndarray | None = None, error: BaseException | None = None
) -> None:
    """Set the job's outcome on its own event loop (futures are not thread-safe)."""

    def settle() -> None:
        if job.future.done():  # cancelled meanwhile
            return
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)

    try:
        job.loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the loop is closed: nobody is waiting any more
        pass
