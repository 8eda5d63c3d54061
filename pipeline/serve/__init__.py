"""Serving a trained model (``python -m pipeline.serve``) and labelling files with it.

``stage.py`` starts the server; ``app.py`` is the FastAPI app and page (``static/``);
``api.py`` checks requests; ``microbatcher.py`` groups concurrent requests into one batch;
``loaded.py`` holds the loaded model and its answers; ``predict.py`` is the command
``python -m pipeline.serve.predict`` that labels sentences or a sheet.
"""
