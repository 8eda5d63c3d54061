"""The train stage (``python -m pipeline.train``): fine-tune one model into models/<run>/.

``stage.py`` is the stage (``run``/``main``): inputs, resume or skip, the run directory and its
provenance; ``ray_train.py`` runs it on Ray Train workers. The fit loop itself is
pipeline/fitting/; what is fitted (model, targets, loss) comes from the config's task.
"""
