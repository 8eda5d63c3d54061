"""The one Keras fit loop every task trains with, below the stages and the tasks.

``loop.py`` fits (seeds, devices, datasets, the compiled model, resume, the best epoch's
weights); ``length_buckets.py`` makes the padded, length-bucketed batches; ``optimizer.py`` the
optimizers and the classification loss; ``callbacks.py`` the per-epoch checkpoint that makes a
run resumable, early stopping and the training key; ``distributed.py`` the tf.distribute
strategy; ``storage.py`` the disk checks; ``head_init.py`` a classification head started from a
linear probe (``train.head_init: probe``). The train stage (pipeline/train/) calls ``fit``;
each task (pipeline/tasks/) says what to fit: model, targets, loss, metrics.
"""
