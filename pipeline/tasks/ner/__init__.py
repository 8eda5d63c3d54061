"""Named-entity recognition pieces of the token-classification task.

The task class is pipeline/tasks/token_classification.py; docs/tasks.md explains NER.
"""
