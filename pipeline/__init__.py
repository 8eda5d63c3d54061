"""Korean text models from spreadsheets: Excel -> fine-tuned model -> report, Hub, web service.

transformers' TensorFlow models are tf-keras (Keras 2) models. TensorFlow 2.16+ resolves
``tf.keras`` to Keras 3 unless TF_USE_LEGACY_KERAS=1 is set before TensorFlow is first
imported, so it is set here, at the very top of the package, before any stage imports TF.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ start-up chatter out of logs
# transformers' own notes on loading ("All the layers ... were initialized", the TF deprecation
# notice) repeat what pipeline.model.loading logs in one line; keep its warnings that are errors.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
