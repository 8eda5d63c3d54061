"""Experiment tracking on MLflow: the client every stage shares (docs/tracking.md).

    tracker = connect(cfg)            # None unless tracking.enabled; checks the server first
    run_id = tracker.start_run("demo", params=flatten(cfg.to_dict()), tags={...})
    tracker.log_metrics(run_id, {"loss": 0.3}, step=1)
    tracker.log_files(run_id, [run_dir / "run.json"], "")

``mlflow`` is imported only here and only when ``tracking.enabled`` is true, so a project
without the tracking extra installed, or with tracking off, never loads it. The server is
``tracking.uri``, else the ``MLFLOW_TRACKING_URI`` environment variable; ``connect`` asks its
``/health`` before the stage does any work, and an unreachable one is one ``PipelineError``
naming the URI.

Once a stage runs, MLflow never stops it: every call after ``connect`` is best effort. A call
that fails (the server went away, a timeout) logs one warning and the stage goes on. Metrics are
buffered, not dropped: ``log_metrics`` keeps what the server did not take and sends it with the
next call that gets through (``pending`` says how many values wait). HTTP calls get at most one
retry and a 10 s timeout unless ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` /
``MLFLOW_HTTP_REQUEST_TIMEOUT`` say otherwise (MLflow's defaults retry for minutes, which would
stall an epoch).
"""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import PipelineError

logger = logging.getLogger("pipeline.tracking")

URI_ENV = "MLFLOW_TRACKING_URI"
# MLflow's HTTP settings, unless the user set them: fail fast, the buffer retries later.
CLIENT_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # stdout is the stages' summary line
}
HEALTH_TIMEOUT_S = 5.0
BATCH = 1000  # MLflow's limit of metrics per log_batch call


def tracking_uri(cfg: Config) -> str | None:
    """``tracking.uri``, else ``MLFLOW_TRACKING_URI``, else None."""
    return cfg.tracking.uri or os.environ.get(URI_ENV) or None


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings -> dotted keys: {"train": {"seed": 1}} -> {"train.seed": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def numbers(tree: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric leaves of ``tree`` (booleans left out), flattened with dotted keys."""
    return {
        k: float(v)
        for k, v in flatten(tree, prefix).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def connect(cfg: Config) -> Tracker | None:
    """The tracker of ``cfg`` (None when tracking is off), after checking its server answers."""
    if not cfg.tracking.enabled:
        return None
    uri = tracking_uri(cfg)
    if not uri:
        raise PipelineError(
            f"tracking.enabled is true but neither tracking.uri nor {URI_ENV} names a server: "
            "start one with `make mlflow` and set tracking.uri: http://127.0.0.1:5000"
        )
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise PipelineError(
            "tracking.enabled needs MLflow: pip install -e '.[tracking]' (or `make setup`), "
            "or set tracking.enabled: false"
        ) from None
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)
    check_uri(uri)
    check_server(uri)
    name = cfg.tracking.experiment or cfg.task
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    except Exception as exc:  # MlflowException, a refused or broken connection
        raise PipelineError(
            f"MLflow at {uri}: cannot open experiment {name!r}: {reason(exc)}"
        ) from None
    if experiment and experiment.lifecycle_stage != "active":
        raise PipelineError(
            f"MLflow at {uri}: experiment {name!r} is deleted: restore it in the MLflow UI, or "
            "choose another tracking.experiment"
        )
    logger.info("tracking on MLflow %s, experiment %r", uri, name)
    return Tracker(client, uri, experiment_id, dict(cfg.tracking.tags))


def check_uri(uri: str) -> None:
    """A tracking server's address: http(s), without a password in it (it would be logged)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PipelineError(
            f"tracking.uri / {URI_ENV} must be a tracking server's http(s) address such as "
            f"http://127.0.0.1:5000, got {parts.scheme or 'no scheme'}: (a file store is not "
            "supported: start a server with `make mlflow`)"
        )
    if parts.username or parts.password:
        raise PipelineError(
            "tracking.uri / MLFLOW_TRACKING_URI must not hold a user name or password: set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) "
            "in the environment instead"
        )


def check_server(uri: str) -> None:
    """One line naming ``uri`` when its ``/health`` does not answer OK."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:  # refused, unknown host, timeout, a malformed URI
        why = getattr(exc, "reason", None) or exc
        raise PipelineError(
            f"MLflow tracking server {uri} cannot be reached ({why}): start it (`make mlflow` "
            "runs one on http://127.0.0.1:5000), fix tracking.uri / MLFLOW_TRACKING_URI, or "
            "set tracking.enabled: false"
        ) from None
    if status != 200:
        raise PipelineError(f"MLflow tracking server {uri} answers {url} with HTTP {status}")


def reason(exc: BaseException) -> str:
    """An exception as one short line (MLflow's messages can span many)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class Tracker:
    """An MLflow client bound to one server and experiment; every call is best effort."""

    def __init__(self, client: Any, uri: str, experiment_id: str, tags: dict[str, str]) -> None:
        self.client, self.uri, self.experiment_id, self.tags = client, uri, experiment_id, tags
        self.pending: list[Any] = []  # mlflow.entities.Metric values the server did not take
        self._down = False  # a warning was logged for the current outage
        self.ok = True  # the last attempt went through
        self.failures = 0  # attempts that failed, all told
        self.error: BaseException | None = None  # what the last failed attempt raised

    def record(self, run_id: str) -> dict[str, str]:
        """What run.json keeps of a run: enough to find it again."""
        return {"run_id": run_id, "experiment_id": self.experiment_id, "tracking_uri": self.uri}

    def url(self, run_id: str) -> str:
        return f"{self.uri.rstrip('/')}/#/experiments/{self.experiment_id}/runs/{run_id}"

    def attempt(self, what: str, call: Callable[[], Any]) -> Any:
        """``call()``, or None and one warning when MLflow fails it (``ok`` is then False): a
        stage never stops here. One outage gets one warning, however many calls it fails."""
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - any client failure is the server's, not ours
            self.ok, self.failures, self.error = False, self.failures + 1, exc
            if not self._down:
                logger.warning("MLflow %s: could not %s (%s); going on", self.uri, what,
                               reason(exc))  # fmt: skip
            self._down = True
            return None
        if self._down:
            logger.info("MLflow %s answers again", self.uri)
        self._down, self.ok = False, True
        return result

    # -- runs -------------------------------------------------------------------------------
    def start_run(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent: str | None = None,
    ) -> str | None:
        """A new run (nested under ``parent`` when given) with params and tags; its id."""
        from mlflow.entities import Param

        all_tags = {**self.tags, **{k: str(v) for k, v in (tags or {}).items() if v is not None}}
        if parent:
            all_tags["mlflow.parentRunId"] = parent
        run = self.attempt(
            f"start a run for {name}",
            lambda: self.client.create_run(self.experiment_id, run_name=name, tags=all_tags),
        )
        if run is None:
            return None
        run_id = run.info.run_id
        values = [Param(k, _param(v)) for k, v in sorted((params or {}).items())]
        for i in range(0, len(values), 100):  # MLflow takes at most 100 params per call
            self.attempt("log the params", lambda i=i: self.client.log_batch(
                run_id, params=values[i : i + 100]))  # fmt: skip
        logger.info("MLflow run %s: %s", name, self.url(run_id))
        return run_id

    def find_run(self, run_id: str | None) -> str | None:
        """``run_id`` when this server holds that run (not deleted), else None."""
        if not run_id:
            return None
        try:
            run = self.client.get_run(run_id)
        except Exception:  # noqa: BLE001 - another server's run, or deleted for good
            return None
        if run.info.lifecycle_stage != "active":
            return None
        return run_id

    def reopen(self, run_id: str) -> None:
        self.attempt("mark the run running", lambda: self.client.update_run(run_id, "RUNNING"))

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.attempt("end the run", lambda: self.client.set_terminated(run_id, status))

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        values = [RunTag(k, str(v)) for k, v in tags.items() if v is not None]
        self.attempt("set tags", lambda: self.client.log_batch(run_id, tags=values))

    # -- metrics and files ------------------------------------------------------------------
    def log_metrics(self, run_id: str, values: Mapping[str, float], step: int = 0) -> bool:
        """Send ``values`` at ``step`` with every value still buffered; True when all went."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.pending += [Metric(metric_name(k), float(v), now, step) for k, v in values.items()]
        while self.pending:
            batch = self.pending[:BATCH]
            self.attempt("log metrics", lambda b=batch: self.client.log_batch(run_id, metrics=b))
            if not self.ok and getattr(self.error, "error_code", "") == "INVALID_PARAMETER_VALUE":
                del self.pending[: len(batch)]  # refused for what it is: sending again won't help
                continue
            if not self.ok:
                logger.info("MLflow: %d metric values kept to send later", len(self.pending))
                return False
            del self.pending[: len(batch)]
        return True

    def logged_steps(self, run_id: str, key: str) -> set[int] | None:
        """The steps of metric ``key`` the server holds, or None when it cannot say."""
        history = self.attempt(
            f"read {key}'s history", lambda: self.client.get_metric_history(run_id, key)
        )
        return None if history is None else {m.step for m in history}

    def log_files(self, run_id: str, files: Iterable[Path], artifact_path: str = "") -> None:
        """Upload the files that exist (a directory with its contents) under ``artifact_path``."""
        for path in files:
            if path.is_dir():
                self.attempt(f"upload {path.name}/", lambda p=path: self.client.log_artifacts(
                    run_id, str(p), _join(artifact_path, p.name)))  # fmt: skip
            elif path.is_file():
                self.attempt(f"upload {path.name}", lambda p=path: self.client.log_artifact(
                    run_id, str(p), artifact_path or None))  # fmt: skip


def metric_name(key: str) -> str:
    """``key`` with the characters MLflow refuses in a metric name as "_"."""
    return re.sub(r"[^\w.\- /:]", "_", key)


def _param(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."  # MLflow's limit of a value


def _join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p)
