"""The command-line frame every stage shares: --config/--set, logging, one-line errors."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.config import Config, load_config
from pipeline.errors import PipelineError

logger = logging.getLogger("pipeline")

DEFAULT_CONFIG = "configs/default.yaml"


def add_config_args(
    parser: argparse.ArgumentParser,
    default: str | None = DEFAULT_CONFIG,
    config_help: str = "YAML config file",
) -> None:
    parser.add_argument("--config", default=default, help=config_help)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. --set split.seed=1 (repeatable)",
    )


def add_backend_arg(parser: argparse.ArgumentParser) -> None:
    """``--backend tf | onnx | onnx-int8``: what runs the model (serve.backend; docs/onnx.md)."""
    parser.add_argument(
        "--backend",
        choices=("tf", "onnx", "onnx-int8"),
        help="run the model with TensorFlow or the run's ONNX export (default: serve.backend)",
    )


def with_backend(cfg: Config, backend: str | None) -> Config:
    """``cfg`` with ``serve.backend`` set to ``--backend`` (when given)."""
    if backend is None:
        return cfg
    return dataclasses.replace(cfg, serve=dataclasses.replace(cfg.serve, backend=backend))


def add_calibration_arg(parser: argparse.ArgumentParser) -> None:
    """``--no-calibration``: the raw softmax scores, not the run's calibrated ones."""
    parser.add_argument(
        "--no-calibration",
        action="store_true",
        help="show the raw softmax scores, not those of the run's calibration.json "
        "(serve.calibration false)",
    )


def with_calibration(cfg: Config, no_calibration: bool) -> Config:
    """``cfg`` with ``serve.calibration`` false when ``--no-calibration`` was given."""
    if not no_calibration:
        return cfg
    return dataclasses.replace(cfg, serve=dataclasses.replace(cfg.serve, calibration=False))


class _CurrentStderr(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes, not as it was at setup: a test
    that ran a command swaps stderr back and closes its capture, and a server thread that logs
    later (the access log) must not write into the closed one."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        handlers=[_CurrentStderr()],
        force=True,
    )
    # Libraries that log every HTTP request or weight name at INFO.
    for name in ("httpx", "urllib3", "filelock", "h5py", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)


def run_cli(
    parser: argparse.ArgumentParser,
    work: Callable[[argparse.Namespace, Config], Any],
    argv: list[str] | None,
    quiet: bool = False,
) -> int:
    """Parse argv, load the config, call ``work``; a PipelineError becomes one line + exit 2."""
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.config, args.overrides)
        if not quiet:
            shown = [re.sub(r"://[^/@\s]*@", "://***@", o) for o in args.overrides]  # no passwords
            logger.info("config %s%s", args.config, f" with {shown}" if shown else "")
        work(args, cfg)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)  # noqa: T201
        return 130
    return 0


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM stops the stage like Ctrl-C (KeyboardInterrupt, exit 130)."""

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def interrupt_exits_130() -> Iterator[None]:
    """For a stage's ``__main__``: SIGTERM while the stage's modules still import (seconds of
    pandas, scikit-learn, TensorFlow) exits 130 with "interrupted", as it does once ``main()``
    runs (its own handler takes over there), not the bare 143 of a process without a handler.

    Nothing is written while modules import, so the process ends at once: a KeyboardInterrupt
    raised inside an import's ``eval()`` would make CPython exit through SIGINT whatever
    catches it.
    """

    def on_sigterm(signum: int, frame: Any) -> None:
        print("interrupted", file=sys.stderr, flush=True)  # noqa: T201
        os._exit(130)

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
