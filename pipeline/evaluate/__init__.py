"""The evaluate stage (``python -m pipeline.evaluate``): a trained run on the test split.

``stage.py`` is the stage (``run``/``main``); ``inputs.py`` reads the split or a given file;
``metrics.py`` the scores; ``baseline.py`` the TF-IDF character n-gram baseline;
``report.py`` the report.md/report.html and figures.
"""
