"""Downloading from the Hugging Face Hub: one path for base checkpoints and published runs.

    folder = hub_snapshot("alice/klue-bert-emotion", pick, "--model")

``pick`` chooses from the repo's file list what to download (raising a PipelineError naming
what is missing); the files go into the usual Hugging Face cache. The client reads
``HF_ENDPOINT``, ``HF_TOKEN`` (or ``hf auth login``), ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE`` as everywhere else; offline, or with the Hub unreachable within
``PROBE_SECONDS``, a cached snapshot that holds what ``pick`` needs is used. No TensorFlow is
imported here: the ONNX serve install uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import PipelineError

logger = logging.getLogger(__name__)

PROBE_SECONDS = 5.0  # how long to wait for the Hub before treating it as offline


def hub_snapshot(repo_id: str, pick: Callable[[set[str]], list[str]], key: str) -> Path:
    """The files of a Hub repo that ``pick`` chooses from its file list, downloaded into the
    Hugging Face cache (``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_CACHE`` as the client reads
    them); returns the snapshot folder. ``pick`` raises a PipelineError when a file it needs
    is not there; ``key`` (the setting that named the repo) starts the offline message.

    Offline (HF_HUB_OFFLINE=1, or the Hub unreachable) a snapshot already in the local Hub
    cache is used if ``pick`` finds what it needs there; without one the error says the Hub
    is offline and suggests a local directory. One download path for base checkpoints and
    published runs' ONNX exports: it imports no TensorFlow.
    """
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        if constants.HF_HUB_OFFLINE:
            raise OSError("HF_HUB_OFFLINE is set")
        if not hub_reachable(constants.ENDPOINT):
            raise OSError(f"no connection to {constants.ENDPOINT} within {PROBE_SECONDS:g} s")
        files = set(HfApi().list_repo_files(repo_id))
        return Path(snapshot_download(repo_id, allow_patterns=pick(files)))
    except PipelineError:
        raise
    except RepositoryNotFoundError as exc:
        raise PipelineError(
            f"{key}: Hub repo {repo_id} not found at {constants.ENDPOINT} (a private repo needs "
            "HF_TOKEN or `hf auth login`)"
        ) from exc
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        cached = _cached_snapshot(repo_id, pick)
        if cached is not None:
            logger.info("Hub unreachable (%s): using the cached copy of %s", exc, repo_id)
            return cached
        reason = str(exc) if type(exc) is OSError and str(exc) else type(exc).__name__
        raise PipelineError(
            f"{key}: {repo_id!r} is a Hugging Face Hub id, but the Hub is offline "
            f"or unreachable ({reason}) and no copy is in the local Hub cache. Download it on a "
            f"machine with internet (`hf download {repo_id}`) and point {key} at "
            "that local directory."
        ) from exc


def hub_reachable(endpoint: str, timeout: float | None = None) -> bool:
    """Whether a TCP connection to the Hub opens within ``timeout`` seconds.

    Without a network, name resolution alone can hang for most of a minute before the Hub
    client gives up; this probe (in a thread, so a slow resolver cannot hold it) answers in
    ``PROBE_SECONDS`` at most.
    """
    import socket
    import threading
    from urllib.parse import urlsplit

    url = urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((url.hostname, port), timeout=timeout or PROBE_SECONDS).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout or PROBE_SECONDS)
    return bool(result and result[0])


def _cached_snapshot(repo_id: str, pick: Callable[[set[str]], list[str]]) -> Path | None:
    """The repo's snapshot in the local Hub cache, if it holds what ``pick`` needs."""
    from huggingface_hub import snapshot_download

    try:
        local = Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:  # noqa: BLE001  (any failure here means: not cached)
        return None
    try:
        pick({p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()})
    except PipelineError as exc:
        raise PipelineError(
            f"the Hub is offline or unreachable, and the cached copy of {repo_id} ({local}) "
            f"lacks what is needed: {exc}"
        ) from exc
    return local
