"""Publish stage: push a trained run, its tokenizer and a generated model card to the Hub.

    python -m pipeline.publish --config configs/default.yaml --repo user/name --dry-run
    python -m pipeline.publish --config configs/aihub-emotion.yaml --model sweep:lr-batch \\
        --repo user/klue-bert-emotion58 --public --revision v1 --message "First release"
    make publish REPO=user/name [MODEL=run|sweep:name] [ARGS=--dry-run]

Reads the run directory (save_pretrained files, labels.json, run.json) and its evaluation
report (reports/<run>/metrics.json and figures/confusion_matrix.png), writes a model card
(modelcard.py) and pushes everything as ONE commit (``HfApi.create_commit``), so the
repo gets all files or none. Refuses a run without an evaluation report unless ``--force``.

The token comes from ``HF_TOKEN`` or the stored ``hf auth login``; it is never printed, logged
or written. The endpoint follows ``HF_ENDPOINT`` (a self-hosted Hub works the same way).
``--dry-run`` lists the files, their sizes and the full card, and sends nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.model.loading import HUB_ID, ModelRef, resolve_model_ref
from pipeline.paths import Paths
from pipeline.publish.files import UploadFile, collect
from pipeline.publish.hub import hub_token, push
from pipeline.publish.registry import model_name, register
from pipeline.tracking import connect

logger = logging.getLogger("pipeline.publish")


@dataclass(frozen=True)
class PublishResult:
    repo_id: str
    revision: str
    files: list[UploadFile]
    card: str
    dry_run: bool
    private: bool
    url: str | None = None
    commit_id: str | None = None
    commit_url: str | None = None
    # False when the repo already held exactly these files (the client then makes no commit).
    changed: bool = True
    # tracking.enabled: the MLflow registered model and the version of this push.
    registered: tuple[str, str] | None = None


def run(
    cfg: Config,
    model: str | None = None,
    repo_id: str | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    private: bool | None = None,
    revision: str | None = None,
    message: str | None = None,
) -> PublishResult:
    """Publish ``model`` (run name, sweep:<name> or path) to ``repo_id`` as one commit."""
    paths = Paths.from_config(cfg)
    ref = resolve_model_ref(paths, cfg.train.run_name, model)
    ref = dataclasses.replace(ref, name=report_name(paths, ref))
    repo_id = repo_id or cfg.publish.repo_id
    if not repo_id and dry_run:
        repo_id = f"your-username/{ref.name.replace('/', '-')}"
        logger.info("no --repo given: the dry run uses %s", repo_id)
    if not repo_id:
        raise PipelineError("no Hub repo: pass --repo user/name or set publish.repo_id")
    if not HUB_ID.match(repo_id):
        raise PipelineError(f"repo {repo_id!r} must look like user/name")
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:  # the Hub's own rules ("..", a leading "-", ".git", 96 characters), dry run or not
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PipelineError(f"not a valid Hub repo id: {' '.join(str(exc).split())}") from None
    if not cfg.publish.timeout_s > 0:
        raise PipelineError(f"publish.timeout_s must be more than 0, got {cfg.publish.timeout_s}")
    private = cfg.publish.private if private is None else private
    revision = revision or cfg.publish.revision
    files, card, metrics = collect(cfg, ref, repo_id, force)
    message = message or cfg.publish.commit_message or _default_message(ref.name, metrics)
    result = PublishResult(repo_id, revision, files, card, dry_run, private)
    if dry_run:
        logger.info("dry run: %d files for %s, nothing sent", len(files), repo_id)
        return result
    tracker = connect(cfg)  # tracking.enabled: checked before anything is pushed
    registry_name = model_name(cfg, repo_id) if tracker else ""
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT  # HF_ENDPOINT, as huggingface_hub read it
    url, oid, commit_url, changed = push(
        files,
        repo_id,
        private=private,
        revision=revision,
        message=message,
        endpoint=endpoint,
        token=hub_token(),
        timeout_s=cfg.publish.timeout_s,
    )
    if not changed:
        logger.warning("%s@%s already held these files: no new commit", repo_id, revision)
    logger.info("pushed %s to %s@%s: commit %s", ref.name, repo_id, revision, oid)
    registered = None
    if tracker:
        hub = {"hub_repo": repo_id, "hub_revision": revision, "hub_commit": oid, "hub_url": url}
        version = register(tracker, registry_name, ref, hub, card, f"{message} ({commit_url})")
        registered = (registry_name, version) if version else None
    return PublishResult(
        repo_id, revision, files, card, False, private, url, oid, commit_url, changed, registered
    )


def report_name(paths: Paths, ref: ModelRef) -> str:
    """The run's name as evaluate files its report: models/<sweep>/<trial> -> "<sweep>/<trial>"."""
    try:
        return ref.run_dir.resolve().relative_to(paths.models.resolve()).as_posix()
    except ValueError:  # a run directory outside models/
        return ref.name


def _default_message(run_name: str, metrics: dict[str, Any] | None) -> str:
    if not metrics:
        return f"Upload {run_name} (not evaluated)"
    return (
        f"Upload {run_name} (test accuracy {metrics['accuracy']:.4f}, "
        f"macro F1 {metrics['macro_f1']:.4f})"
    )


def format_dry_run(result: PublishResult) -> str:
    lines = [
        f"dry run: would push {len(result.files)} files to {result.repo_id} "
        f"({'private' if result.private else 'public'}, branch {result.revision}); nothing sent",
        "",
    ]
    lines += [f"{f.size:>12,}  {f.path_in_repo}" for f in result.files]
    lines += [f"{sum(f.size for f in result.files):>12,}  total bytes", "", "--- README.md ---"]
    return "\n".join(lines) + "\n" + result.card


def main(argv: list[str] | None = None) -> int:
    from pipeline.cli import add_config_args, run_cli

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_config_args(parser)
    parser.add_argument("--model", help="run name, sweep:<name> or run directory")
    parser.add_argument("--repo", help="Hub repo user/name (default: publish.repo_id)")
    parser.add_argument("--dry-run", action="store_true", help="show files and card, send nothing")
    parser.add_argument("--force", action="store_true", help="publish without an eval report")
    vis = parser.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_true", default=None)
    vis.add_argument("--public", dest="private", action="store_false")
    parser.add_argument("--revision", help="branch to push to (created if new)")
    parser.add_argument("--message", help="commit message")

    def work(args: argparse.Namespace, cfg: Config) -> None:
        result = run(
            cfg,
            args.model,
            args.repo,
            dry_run=args.dry_run,
            force=args.force,
            private=args.private,
            revision=args.revision,
            message=args.message,
        )
        if result.dry_run:
            print(format_dry_run(result))  # noqa: T201
        else:
            state = "" if result.changed else " (unchanged: no new commit)"
            print(f"{result.url}\ncommit {result.commit_id}{state}\n{result.commit_url}")  # noqa: T201
            if result.registered:
                print("MLflow registry: {} version {}".format(*result.registered))  # noqa: T201

    return run_cli(parser, work, argv)


if __name__ == "__main__":
    raise SystemExit(main())
