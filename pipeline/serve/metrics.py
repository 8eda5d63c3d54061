"""Prometheus metrics of the one web app: ``GET /metrics`` in the text exposition format.

Every app gets its own ``CollectorRegistry`` (not prometheus-client's global one): tests run
several apps in one process, and each app's numbers must be its own. The names (all with the
``pipeline_`` prefix, docs/serve.md lists them with example queries):

- ``pipeline_requests_total{route, task, model, status}`` and
  ``pipeline_request_duration_seconds{route, task, model}``: every request (the access-log
  middleware, pipeline/serve/access.py, records them; ``route`` is the route's template, so
  unknown paths are one ``unmatched`` series, not one per path a scanner tries);
- ``pipeline_queue_wait_seconds``, ``pipeline_model_seconds``, ``pipeline_batch_size`` (per
  model call) and ``pipeline_queue_depth`` (right now), per model;
- ``pipeline_inputs_total`` and ``pipeline_tokens_total{kind="input"|"generated"}``;
- ``pipeline_model_load_seconds``; ``process_resident_memory_bytes`` and the other
  ``process_*`` series of prometheus-client's process collector.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from pipeline.inference.observe import Observer

# Seconds: from a sub-millisecond cached answer to a long generation.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics(Observer):
    """The app's Prometheus series; the model servers report into it as their ``observer``."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        ProcessCollector(registry=reg)  # process_resident_memory_bytes, cpu, open fds
        self.requests = Counter(
            "pipeline_requests",
            "HTTP requests answered, by route template, task, model and status code",
            ["route", "task", "model", "status"],
            registry=reg,
        )
        self.request_seconds = Histogram(
            "pipeline_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer",
            ["route", "task", "model"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.queue_wait = Histogram(
            "pipeline_queue_wait_seconds",
            "Seconds a job waited for the model's worker before its model call",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.model_seconds = Histogram(
            "pipeline_model_seconds",
            "Seconds of one model call (a micro-batch, or one generation)",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.batch_size = Histogram(
            "pipeline_batch_size",
            "Inputs per model call",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self.queue_depth = Gauge(
            "pipeline_queue_depth", "Jobs waiting for the model's worker", ["model"], registry=reg
        )
        self.inputs = Counter(
            "pipeline_inputs", "Inputs the model answered", ["task", "model"], registry=reg
        )
        self.tokens = Counter(
            "pipeline_tokens",
            "Tokens the model read (kind=input) or wrote (kind=generated)",
            ["task", "model", "kind"],
            registry=reg,
        )
        self.load_seconds = Gauge(
            "pipeline_model_load_seconds",
            "Seconds from the start of loading to the model's ready state",
            ["model"],
            registry=reg,
        )

    # -- the Observer hooks (worker threads; prometheus-client's series are thread-safe) --------
    def loaded(self, model: str, seconds: float) -> None:
        self.load_seconds.labels(model).set(seconds)

    def batch(self, model: str, size: int, waits_s: Sequence[float], model_s: float) -> None:
        self.batch_size.labels(model).observe(size)
        self.model_seconds.labels(model).observe(model_s)
        wait = self.queue_wait.labels(model)
        for seconds in waits_s:
            wait.observe(max(0.0, seconds))

    def processed(self, task: str, model: str, inputs: int, tokens: int, kind: str) -> None:
        if inputs:
            self.inputs.labels(task, model).inc(inputs)
        if tokens:
            self.tokens.labels(task, model, kind).inc(tokens)

    def queue(self, model: str, depth: Callable[[], int]) -> None:
        self.queue_depth.labels(model).set_function(depth)

    # -- the app side ---------------------------------------------------------------------------
    def request(self, route: str, model: str, status: int, seconds: float) -> None:
        """One answered request (the access-log middleware)."""
        self.requests.labels(route, self.task, model, str(status)).inc()
        self.request_seconds.labels(route, self.task, model).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """(the text format, its content type) for GET /metrics."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
