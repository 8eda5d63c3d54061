"""Loaded models and requests, below the stages and the tasks: what serving and labelling share.

``loaded.py`` loads a run or Hub id with what answering needs (max_seq_len, label groups);
``api.py`` reads and checks request bodies (bounded JSON, texts, top_k) and raises
``RequestError`` (a 4xx); ``microbatcher.py`` runs concurrent requests through a model together.
The one web app is pipeline/serve/app.py; each task's server role is in pipeline/tasks/.
"""
