"""The model pieces every model stage shares (train, evaluate, publish, serve).

``loading.py`` resolves a base checkpoint or a trained run and loads it as a TF model without
torch; ``packaged.py`` turns the registry-shipped 4-bit base model into an fp32 checkpoint;
``vocab_trim.py`` trims a large vocabulary to the corpus; ``batched_classifier.py`` is
``BatchedClassifier``, the length-sorted batched predictor evaluate and serve use.
"""
