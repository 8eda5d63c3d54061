"""predict's side of a task: its answers printed for sentences, or added as a table's columns.

``Labeller`` holds the model a ``python -m pipeline.serve.predict`` run loads (on first use, so
a bad input file is named before any model loads); each task's labeller (pipeline/tasks/*)
says which columns a table example reads (``check_columns``), what it prints for sentences
(``lines``) and which columns it adds to a table (``table``, counted on ``output_column``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.inference.loaded import LoadedModel, load_model, resolve
from pipeline.model.loading import check_tokenizer_files


class Labeller:
    """A task's model for predict, loaded on first use."""

    output_column = "predicted_label"  # filled for every labelled row of a table

    def __init__(self, task: Any, cfg: Config, model: str | None, batch_size: int) -> None:
        self.task, self.cfg, self.model, self.batch_size = task, cfg, model, batch_size
        self._loaded: LoadedModel | None = None

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            ref = resolve(self.cfg, self.model)
            check_tokenizer_files(ref)  # one line, not a traceback from transformers
            self._loaded = load_model(self.cfg, ref, self.task.auto_model, self.task.check_model)
        return self._loaded

    def check_columns(self, column: str, pair_column: str | None) -> None:
        """A table example is one cell of ``column``: no ``pair_column``."""
        if pair_column is not None:
            raise PipelineError(
                f"--pair-column needs a pair task (the config's task is {self.task.name})"
            )

    def lines(self, texts: list[str], top_k: int, params: dict[str, Any]) -> str:
        raise NotImplementedError

    def table(
        self,
        df: pd.DataFrame,
        column: str,
        pair_column: str | None,
        progress: Callable[[int], None] | None = None,
    ) -> pd.DataFrame:
        raise NotImplementedError

    def no_params(self, params: dict[str, Any]) -> None:
        """Refuse ``--param`` for a task whose answers take none."""
        if params:
            raise PipelineError(f"--param {', '.join(params)}: task {self.task.name} takes none")
