"""The sweep stage (``python -m pipeline.sweep``): many train runs over a grid, a results table.

``spec.py`` reads a sweep file and expands its trials; ``runner.py`` runs them as
``python -m pipeline.train`` processes; ``report.py`` and ``plots.py`` write the table, the
figures and the TensorBoard HParams summaries; ``stage.py`` is the stage (``run``/``main``).
"""
