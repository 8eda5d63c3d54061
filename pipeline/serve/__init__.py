"""Serving a trained model (``python -m pipeline.serve``) and labelling files with it.

``stage.py`` starts the server; ``app.py`` is the one FastAPI app and its pages (``static/``);
``predict.py`` is the command ``python -m pipeline.serve.predict`` that labels sentences or a
sheet; ``ray_predict.py`` the same on Ray Data. Request checks, loaded models and the
micro-batcher are pipeline/inference/; each task's answers are its server role (pipeline/tasks/).
"""
