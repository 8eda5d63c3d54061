"""The Hub calls of a publish, and their errors turned into one message each.

The token comes from ``HF_TOKEN`` or the stored ``hf auth login``; it is never printed, logged
or written (``hub_errors`` masks it in every message). Every HTTP call has a timeout.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import requests

from pipeline.errors import PipelineError
from pipeline.publish.files import UploadFile

logger = logging.getLogger("pipeline.publish")


def hub_token() -> str:
    """HF_TOKEN, else the token stored by ``hf auth login``."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise PipelineError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` with a write token"
        )
    return token


def push(
    files: list[UploadFile],
    repo_id: str,
    *,
    private: bool,
    revision: str,
    message: str,
    endpoint: str,
    token: str,
    timeout_s: float = 60.0,
) -> tuple[str, str, str, bool]:
    """create_repo (exist_ok) + one create_commit. Returns (url, commit id, commit url, changed).

    Every HTTP call gets ``timeout_s`` to connect and ``timeout_s`` between bytes of the answer
    (huggingface_hub 0.36 sends most calls without a timeout, so a silent Hub would hang it).
    """
    from huggingface_hub import CommitOperationAdd, HfApi, configure_http_backend, constants

    if constants.HF_HUB_OFFLINE:
        raise PipelineError("HF_HUB_OFFLINE is set: publishing needs the network; unset it")
    api = HfApi(endpoint=endpoint, token=token, library_name="korean-emotion-bert")
    configure_http_backend(lambda: _TimeoutSession(timeout_s))
    with (
        _restored_backend(configure_http_backend),
        hub_errors(endpoint, repo_id, token, timeout_s) as step,
    ):
        step["now"] = "checking the token"
        step["user"] = api.whoami()["name"]
        logger.info("token accepted by %s (user %s)", endpoint, step["user"])
        step["now"] = "creating the repo"
        url = str(api.create_repo(repo_id, private=private, exist_ok=True))
        if revision != "main":
            step["now"] = f"creating branch {revision}"
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        step["now"] = "reading the repo"
        info = api.repo_info(repo_id, revision=revision)
        if info.private is not None and info.private != private:
            logger.warning(
                "%s already exists and is %s: its visibility is left as it is",
                repo_id,
                "private" if info.private else "public",
            )
        ops = [
            CommitOperationAdd(f.path_in_repo, f.content if f.source is None else str(f.source))
            for f in files
        ]
        step["now"] = "uploading and committing"
        logger.info(
            "committing %d files (%.1f MB) to %s@%s",
            len(files),
            sum(f.size for f in files) / 1e6,
            repo_id,
            revision,
        )
        commit = api.create_commit(repo_id, ops, commit_message=message, revision=revision)
    return url, commit.oid, commit.commit_url, commit.oid != info.sha


class _TimeoutSession(requests.Session):
    """A requests session that gives every call a timeout unless the caller set one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().request(*args, **kwargs)


@contextlib.contextmanager
def _restored_backend(configure: Any) -> Iterator[None]:
    """Put huggingface_hub's default HTTP sessions back afterwards."""
    try:
        yield
    finally:
        configure()


@contextlib.contextmanager
def hub_errors(
    endpoint: str, repo_id: str, token: str, timeout_s: float = 60.0
) -> Iterator[dict[str, str]]:
    """Turn the client's exceptions into one clear PipelineError (never showing the token)."""
    step: dict[str, str] = {"now": "starting"}
    try:
        yield step
    except (requests.RequestException, RuntimeError, ValueError, KeyError) as exc:
        root = root_cause(exc)
        response = getattr(root, "response", None)
        status = response.status_code if response is not None else None
        doing = f"while {step['now']}"
        if status == 401:
            msg = (
                f"the Hub at {endpoint} rejected the token (401) {doing}: it is invalid or "
                "expired; set HF_TOKEN to a write token or run `hf auth login`"
            )
        elif status == 403:
            who = f" for user {step['user']}" if "user" in step else ""
            msg = (
                f"the Hub refused to write to {repo_id} (403){who} {doing}: the namespace "
                f"{repo_id.split('/')[0]!r} belongs to someone else, or the token is read-only"
            )
        elif status is not None:
            server = getattr(root, "server_message", None) or response.reason
            msg = f"the Hub at {endpoint} answered {status} {doing}: {server}"
        elif isinstance(root, requests.Timeout):
            msg = (
                f"the Hub at {endpoint} did not answer within {timeout_s:g} s {doing} "
                f"({type(root).__name__}): it is down or overloaded; try again later, or raise "
                "publish.timeout_s"
            )
        elif isinstance(root, requests.RequestException):
            msg = (
                f"cannot reach the Hub at {endpoint} {doing} ({type(root).__name__}, after the "
                "client's retries): network down, or HF_ENDPOINT is wrong"
            )
        else:
            msg = f"publishing failed {doing}: {type(root).__name__}: {root}"
        msg += ". No commit was made: a push is one commit, all files or none"
        raise PipelineError(msg.replace(token, "***")) from None


def root_cause(exc: BaseException) -> BaseException:
    """The innermost requests error behind a wrapper (the client wraps LFS upload errors)."""

    found = exc
    while exc is not None:
        if isinstance(exc, requests.RequestException):
            found = exc
        exc = exc.__cause__ or exc.__context__
    return found
