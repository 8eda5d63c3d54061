"""Text generation: a causal LM (GPT-2, KoGPT2) continues a prompt (the task: task.py).

``tiny.py`` the offline tiny GPT-2, ``data.py`` LM sequences and perplexity, ``train.py`` the
fit spec and the one causal-LM loader, ``sampling.py`` decoding settings and seeded
generation, ``evaluate.py``, ``metrics.py`` and ``report.py`` the evaluation, ``serve.py`` the
server and predict's lines, ``card.py`` the model card, ``arch.py`` the wrong-task checks.
"""

from pipeline.tasks.generation.task import TextGeneration

__all__ = ["TextGeneration"]
