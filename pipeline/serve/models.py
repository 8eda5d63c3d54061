"""Several models behind one port, and shadow traffic to compare a new model with the old.

    python -m pipeline.serve --model old=emotion-v1 --model new=emotion-v2

The first ``--model`` is the default (``/predict``, the page); every model also answers at
``/models/<name>/predict`` (generation: ``/generate`` too), each with its own server and
micro-batcher, so a slow model never holds up another's batches. A plain ``--model REF``
takes the run's own name. All models serve the config's task.

``serve.shadow: new`` sends ``serve.shadow_share`` of the default route's requests to ``new``
as well, after the answer is computed and without changing it or waiting for it; each
comparison is a log line and ``pipeline_shadow_total{agree="true"|"false"}``: two models agree
on a request when their answers' top labels (classification: the first label of each input;
other tasks: the whole answer) are the same.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from dataclasses import replace
from typing import Any

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.loaded import resolve
from pipeline.inference.server import Server
from pipeline.tasks import task_for

logger = logging.getLogger("pipeline.serve.shadow")

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LOOKS_LIKE_REF = re.compile(r"[/\\:]")  # before '=': a path, sweep:... or Hub id, not a NAME


def parse_model_args(values: list[str] | None) -> list[tuple[str | None, str | None]]:
    """``--model`` values -> (name or None, reference); none given: the config's run."""
    if not values:
        return [(None, None)]
    out = []
    for value in values:
        name, sep, ref = value.partition("=")
        if sep and NAME.fullmatch(name):
            if not ref:
                raise PipelineError(f"--model {value}: give a run, path or Hub id after '='")
            out.append((name, ref))
        elif sep and not LOOKS_LIKE_REF.search(name):
            # meant as NAME=REF (a path, sweep: or Hub id before the '=' has a / or :)
            raise PipelineError(
                f"--model {value!r}: the name {name!r} is not valid: a served name becomes the "
                "route /models/<name>/predict, so it is 1 to 64 of A-Z a-z 0-9 . _ - and starts "
                "with a letter or digit"
            )
        else:
            out.append((None, value))
    return out


def build_servers(cfg: Config, values: list[str] | None) -> dict[str, Server]:
    """One server per ``--model`` (the first is the default), by name; a missing run, a name
    used twice or a ``serve.shadow`` that names no model fails here, before anything starts."""
    servers: dict[str, Server] = {}
    for name, ref in parse_model_args(values):
        resolved = resolve(cfg, ref)
        if name:
            resolved = replace(resolved, name=name)
        if resolved.name in servers:
            raise PipelineError(
                f"--model: two models are named {resolved.name!r}: name them, e.g. "
                f"--model old={resolved.name} --model new=OTHER"
            )
        servers[resolved.name] = task_for(cfg).server(cfg, resolved)
    check_shadow(cfg, servers)
    return servers


def check_shadow(cfg: Config, servers: dict[str, Server]) -> None:
    """``serve.shadow`` must name a served model other than the default."""
    shadow = cfg.serve.shadow
    if shadow is None:
        return
    names = list(servers)
    if shadow not in servers or shadow == names[0]:
        raise PipelineError(
            f"serve.shadow is {shadow!r}, but the models served are {', '.join(names)} (the "
            f"first, {names[0]}, answers): add --model {shadow}=RUN after the default one"
        )


def top_labels(answer: Any) -> Any:
    """What two answers must share to agree: each input's first label, else the answer."""
    if isinstance(answer, list) and all(isinstance(a, list) for a in answer):
        return [a[0].get("label") if a and isinstance(a[0], dict) else a for a in answer]
    return answer


class Shadow:
    """Sends a share of the default model's requests to a second model and logs agreement."""

    def __init__(self, server: Server, share: float, metrics: Any | None) -> None:
        self.server, self.share = server, share
        self.counter = None
        if metrics is not None:
            from prometheus_client import Counter

            self.counter = Counter(
                "pipeline_shadow",
                "Requests also answered by the shadow model, by whether the answers agreed",
                ["model", "shadow", "agree"],
                registry=metrics.registry,
            )
        self.tasks: set[asyncio.Task] = set()  # held until done (the loop keeps weak refs)

    def maybe(self, body: Any, answer: Any, model: str, rid: str | None) -> None:
        """Compare in the background, for ``serve.shadow_share`` of the calls."""
        if not self.server.ready.is_set() or random.random() >= self.share:
            return
        task = asyncio.get_running_loop().create_task(self._compare(body, answer, model, rid))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _compare(self, body: Any, answer: Any, model: str, rid: str | None) -> None:
        name = self.server.ref.name
        try:
            theirs, _ = await self.server.answer(body, _never_gone)
        except Exception as exc:  # noqa: BLE001  (the shadow's failure is only logged)
            logger.warning("shadow %s failed on request %s: %s", name, rid, exc)
            return
        agree = top_labels(theirs) == top_labels(answer)
        if self.counter is not None:
            self.counter.labels(model, name, str(agree).lower()).inc()
        logger.info("shadow request %s: %s and %s %s", rid, model, name,
                    "agree" if agree else "disagree")  # fmt: skip


async def _never_gone() -> bool:
    return False
