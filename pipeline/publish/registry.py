"""What a publish leaves in MLflow's model registry (tracking.enabled; docs/tracking.md).

Each push becomes a version of the registered model ``tracking.registered_model`` (default:
the Hub repo with its "/" as "-"), tagged with the Hub repo, branch, commit and URL, and
attached to the MLflow run that trained the model (run.json's ``"mlflow"``; a new "publish"
run when it has none). The weights stay on the Hub: the version's source is the run's
``published/<commit>/`` artifacts, the model card and hub.json (where the files are), so a
registry version names exactly the Hub commit it stands for. Publishing the same commit again
finds its version instead of adding one.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.io import write_json, write_text
from pipeline.model.loading import ModelRef
from pipeline.paths import RunDir
from pipeline.tracking import Tracker

logger = logging.getLogger("pipeline.publish")


def model_name(cfg: Config, repo_id: str) -> str:
    """The registered model's name; the registry refuses "/" and ":" in one."""
    name = cfg.tracking.registered_model or repo_id.replace("/", "-")
    if not name or "/" in name or ":" in name:
        raise PipelineError(f"tracking.registered_model {name!r} must have no '/' nor ':'")
    return name


def register(
    tracker: Tracker,
    name: str,
    ref: ModelRef,
    hub: dict[str, str],
    card: str,
    message: str,
) -> str | None:
    """Register the push described by ``hub`` (hub_repo, hub_revision, hub_commit, hub_url);
    the version's number, or None when MLflow did not take it (a warning says so)."""
    record = RunDir(ref.run_dir).read(RunDir.RECORD)
    run_id = tracker.find_run(record.get("mlflow", {}).get("run_id"))
    if run_id is None:
        logger.warning("%s has no MLflow run on %s: the registry version gets a new run",
                       ref.name, tracker.uri)  # fmt: skip
        run_id = tracker.start_run(f"publish {ref.name}", tags={"model": ref.name})
        if run_id is None:
            return None
        tracker.end_run(run_id)
    where = f"published/{hub['hub_commit']}"
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / "README.md", Path(tmp) / "hub.json"]
        write_text(files[0], card)
        write_json(files[1], hub)
        tracker.log_files(run_id, files, where)
    version = version_of(tracker, name, run_id, f"runs:/{run_id}/{where}", hub, message)
    if version is None:
        logger.warning("the push is on the Hub but not in MLflow's registry: run publish again")
    else:
        logger.info("registered %s version %s (MLflow run %s)", name, version, run_id)
    return version


def version_of(
    tracker: Tracker, name: str, run_id: str, source: str, tags: dict[str, str], description: str
) -> str | None:
    """A version of registered model ``name`` (created when missing) with ``tags``: the one
    that has them already, else a new one. Its number, or None when MLflow failed a call."""
    client = tracker.client

    def create_model() -> None:
        try:
            client.create_registered_model(name)
        except Exception as exc:  # MlflowException: the name is taken, which is fine
            if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise

    tracker.attempt(f"create registered model {name!r}", create_model)
    if not tracker.ok:
        return None
    found = tracker.attempt("search the registry",
                            lambda: client.search_model_versions(f"name='{name}'"))  # fmt: skip
    for version in found or []:
        if all(version.tags.get(k) == v for k, v in tags.items()):
            logger.info("%s version %s already records this commit", name, version.version)
            return str(version.version)
    version = tracker.attempt(f"register a version of {name!r}", lambda: (
        client.create_model_version(name, source, run_id=run_id, tags=tags,
                                    description=description)))  # fmt: skip
    return None if version is None else str(version.version)
