"""The ``serve:`` section: the web service's address, batching, limits, scores (calibration,
min_score) and operation (metrics, API keys, access log, drain). Kept apart from schema.py so
that file stays short; ``Config.serve`` holds it. docs/serve.md says how the operating keys fit
together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.errors import PipelineError


@dataclass(frozen=True)
class ServeConfig:
    # Address to bind (127.0.0.1: this machine only); --host / --port override.
    host: str = "127.0.0.1"
    port: int = 8000
    # Micro-batching: concurrent requests run through the model together. false: every request
    # calls the TextClassificationPipeline on its own (the naive service the bench compares).
    batching: bool = True
    # Most sentences run through the model together.
    max_batch_size: int = 32
    # How long the first request of a batch waits for company, in milliseconds.
    max_wait_ms: float = 5.0
    # Most sentences in one request.
    max_inputs: int = 64
    # Largest request body, in bytes (larger ones are refused before they are parsed).
    max_body_bytes: int = 65536
    # Emotions returned when the request does not say.
    top_k: int = 5
    # Seconds a request body may take to arrive in full; a slower one gets 408 and is closed.
    body_timeout_s: float = 10.0
    # Seconds an idle keep-alive connection stays open after its last response (uvicorn's).
    keep_alive_s: float = 5.0
    # What runs the model for serve, predict and evaluate (--backend overrides it): tf
    # (TensorFlow), onnx (the run's onnx/model.onnx, ONNX Runtime) or onnx-int8
    # (onnx/model_quantized.onnx); `make export` writes both (docs/onnx.md).
    backend: Literal["tf", "onnx", "onnx-int8"] = "tf"
    # Scores through the model's calibration.json (a temperature fitted on the validation split
    # after training, published with the model) in serve, predict and evaluate; false
    # (--no-calibration): the raw softmax. A model without the file (older runs, other Hub
    # models) is shown raw either way.
    calibration: bool = True
    # An answer whose best score is below this is marked unsure ("uncertain": true, a note on the
    # page, predict's "unsure"; predict --min-score overrides it); 0: never. The evaluate
    # report's coverage table helps choose it (docs/evaluate.md).
    min_score: float = 0.0

    # Prometheus metrics at GET /metrics (requests, latencies, batch sizes, queue depth, inputs,
    # tokens, model load time, process memory; docs/serve.md has example queries).
    metrics: bool = True
    # With API keys set: true leaves /metrics open to the scraper (bind to a private address),
    # false makes it need a key like every other route.
    metrics_public: bool = True
    # File of hashed API keys (a sha256 hex per line, then an optional name; `python -m
    # pipeline.serve.keys` makes one), relative to root. Set (or the environment variable
    # PIPELINE_API_KEY_HASHES): every route but /health, the page and its files needs
    # "Authorization: Bearer <key>". null: no keys.
    api_keys_file: str | None = None
    # One access-log line per request (logger pipeline.serve.access): request id, method, route,
    # status, latency, input count, key name. Never the text unless log_inputs.
    access_log: bool = True
    # Also log the request's inputs (the user's text: leave off in production).
    log_inputs: bool = False
    # On SIGTERM, seconds the requests and micro-batches in flight get to finish before the
    # server exits anyway (it stops accepting at once; exit code 0).
    drain_s: float = 30.0
    # Shadow traffic: the name of a second model given with --model NAME=REF; that share of the
    # default route's requests also runs through it in the background, and whether the two
    # agree is logged and counted (pipeline_shadow_total). The answer is the default model's.
    shadow: str | None = None
    # Share of requests sent to the shadow model, in (0, 1].
    shadow_share: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_score <= 1:
            raise PipelineError(
                f"serve.min_score must be in [0, 1] (a probability), got {self.min_score}"
            )
        if not 0 < self.drain_s <= 3600:
            raise PipelineError(f"serve.drain_s must be in (0, 3600], got {self.drain_s}")
        if not 0 < self.shadow_share <= 1:
            raise PipelineError(f"serve.shadow_share must be in (0, 1], got {self.shadow_share}")
        if self.api_keys_file is not None and not self.api_keys_file.strip():
            raise PipelineError("serve.api_keys_file must name a file, or be null for no keys")
        for key in ("max_batch_size", "max_inputs", "max_body_bytes", "top_k"):
            if getattr(self, key) < 1:
                raise PipelineError(f"serve.{key} must be at least 1, got {getattr(self, key)}")
        if not 0 <= self.port <= 65535:
            raise PipelineError(f"serve.port must be in [0, 65535], got {self.port}")
        # a request waits up to max_wait_ms for company: more than a second is a mistake
        if not 0 <= self.max_wait_ms <= 1000:
            raise PipelineError(f"serve.max_wait_ms must be in [0, 1000], got {self.max_wait_ms}")
        for key in ("body_timeout_s", "keep_alive_s"):
            if not 0 < getattr(self, key) <= 3600:
                raise PipelineError(f"serve.{key} must be in (0, 3600], got {getattr(self, key)}")
        if self.backend != "tf" and not self.batching:
            raise PipelineError(
                f"serve.batching false runs TensorFlow's pipeline per request: with serve.backend "
                f"{self.backend} keep serve.batching true"
            )
