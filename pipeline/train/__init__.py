"""The train stage (``python -m pipeline.train``): fine-tune one classifier into models/<run>/.

``stage.py`` is the stage (``run``/``main``); ``loop.py`` the Keras fit loop; ``optimizer.py``
the loss and optimizers; ``length_buckets.py`` the padded batches; ``callbacks.py`` the
per-epoch checkpoint that makes a run resumable; ``storage.py`` the disk checks.
"""
