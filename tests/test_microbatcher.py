"""The micro-batcher: grouping, splitting answers back, errors, and equality with the pipeline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from pipeline.inference.microbatcher import MicroBatcher


class Recorder:
    """A predict function that remembers each batch and answers a per-text row."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        if "boom" in texts:
            raise ValueError("cannot classify boom")
        self.batches.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97] for t in texts], dtype=np.float32)


def expected(texts: list[str]) -> np.ndarray:
    return Recorder()(texts)


def run_queued(batcher: MicroBatcher, jobs: list[list[str]]) -> list:
    """Queue every job before the worker starts (so grouping is deterministic), then run."""

    async def go() -> list:
        loop = asyncio.get_running_loop()
        futures = [batcher.enqueue(texts, loop) for texts in jobs]
        batcher.start()
        try:
            return await asyncio.gather(*futures, return_exceptions=True)
        finally:
            batcher.stop()

    return asyncio.run(go())


def test_waiting_jobs_are_grouped_up_to_max_batch_size_and_answered_separately() -> None:
    predict = Recorder()
    jobs = [[f"문장 {i}"] for i in range(10)]
    results = run_queued(MicroBatcher(predict, max_batch_size=4, max_wait_ms=200), jobs)
    assert [len(b) for b in predict.batches] == [4, 4, 2]
    for job, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result, expected(job))
    assert predict.batches[0] == ["문장 0", "문장 1", "문장 2", "문장 3"]  # arrival order


def test_a_job_is_never_split_and_a_large_one_runs_alone() -> None:
    predict = Recorder()
    jobs = [["a", "bb"], [f"x{i}" for i in range(10)], ["ccc"], ["d", "e", "f"]]
    batcher = MicroBatcher(predict, max_batch_size=4, max_wait_ms=200)
    results = run_queued(batcher, jobs)
    assert [len(b) for b in predict.batches] == [2, 10, 4]
    for job, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result, expected(job))
    assert batcher.stats.as_dict() == {
        "batches": 3,
        "jobs": 4,
        "sentences": 16,
        "largest_batch": 10,
        "mean_batch": 5.33,
    }


def test_max_batch_size_one_runs_every_job_on_its_own() -> None:
    predict = Recorder()
    run_queued(MicroBatcher(predict, max_batch_size=1, max_wait_ms=200), [["a"], ["b"], ["c"]])
    assert predict.batches == [["a"], ["b"], ["c"]]


def test_a_failing_batch_fails_only_the_culprit_and_the_worker_keeps_going() -> None:
    predict = Recorder()
    batcher = MicroBatcher(predict, max_batch_size=4, max_wait_ms=200)
    results = run_queued(batcher, [["ok"], ["boom"], ["fine", "good"], ["next"]])
    assert isinstance(results[1], ValueError) and "boom" in str(results[1])
    good = [["ok"], ["fine", "good"], ["next"]]
    for job, result in zip(good, results[:1] + results[2:], strict=True):
        np.testing.assert_array_equal(result, expected(job))
    # the failed batch [ok, boom, fine good] was retried job by job, then "next" ran
    assert predict.batches == [["ok"], ["fine", "good"], ["next"]]
    assert batcher.stats.jobs == 3


def test_submit_needs_a_running_batcher_and_a_lone_job_does_not_wait_forever() -> None:
    batcher = MicroBatcher(Recorder(), max_batch_size=8, max_wait_ms=5)

    async def go() -> np.ndarray:
        with pytest.raises(RuntimeError, match="not running"):
            await batcher.submit(["a"])
        batcher.start()
        try:
            return await asyncio.wait_for(batcher.submit(["혼자"]), timeout=30)
        finally:
            batcher.stop()

    np.testing.assert_array_equal(asyncio.run(go()), expected(["혼자"]))


@pytest.mark.slow
def test_batched_answers_equal_the_pipelines_unbatched_ones(untrained_run: Path) -> None:
    from transformers import TextClassificationPipeline

    from pipeline.model.batched_classifier import BatchedClassifier
    from pipeline.model.loading import ModelRef, load_trained

    model, tokenizer = load_trained(ModelRef(name="run", run_dir=untrained_run))
    pipe = TextClassificationPipeline(model=model, tokenizer=tokenizer, framework="tf")
    clf = BatchedClassifier(model, tokenizer, max_seq_len=32, batch_size=8)
    words = ["친구가", "선물을", "줬어.", "고마워요", "화가", "나요", "걱정돼요", "정말"]
    jobs = [[" ".join(words[: 2 + (i % 7)])] for i in range(12)] + [words[:3], words[2:6]]
    predict = Recorder()

    def recorded(texts: list[str]) -> np.ndarray:
        predict.batches.append(list(texts))
        return clf.predict_proba(texts)

    results = run_queued(MicroBatcher(recorded, max_batch_size=8, max_wait_ms=200), jobs)
    assert max(len(b) for b in predict.batches) > 1
    label2id = model.config.label2id
    for job, probs in zip(jobs, results, strict=True):
        for text, row in zip(job, probs, strict=True):
            for item in pipe(text, top_k=None, truncation=True, max_length=32):
                assert row[label2id[item["label"]]] == pytest.approx(item["score"], abs=1e-4)
