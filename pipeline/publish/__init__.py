"""The publish stage (``python -m pipeline.publish``): a run and its card to the Hub, one commit.

``stage.py`` is the stage (``run``/``main``); ``files.py`` collects what goes up;
``modelcard.py`` writes the card; ``hub.py`` makes the Hub calls and turns their errors into
one message each.
"""
