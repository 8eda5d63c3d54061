"""The loss, class weights and optimizers of a training run (one, or one for body + head).

``use_head_optimizer`` replaces the model's train step so one gradient is applied by two
optimizers: the body at ``train.learning_rate``, the new head at ``x train.head_lr_multiplier``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.config import Config


def make_optimizer(cfg: Config, total_steps: int, multiplier: float = 1.0) -> Any:
    """Adam at ``learning_rate`` (x ``multiplier``), or AdamW with warmup and linear decay."""
    import tf_keras
    from transformers import create_optimizer

    t = cfg.train
    if t.optimizer == "adam":
        return tf_keras.optimizers.Adam(learning_rate=t.learning_rate * multiplier)
    optimizer, _ = create_optimizer(
        init_lr=t.learning_rate * multiplier,
        num_train_steps=total_steps,
        num_warmup_steps=int(t.warmup_ratio * total_steps),
        weight_decay_rate=t.weight_decay,
    )
    return optimizer


def build_optimizer(optimizer: Any, variables: list) -> None:
    """Create the slot variables now, so a checkpoint restores them at once."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if hasattr(inner, "_create_all_weights"):  # legacy optimizers (transformers' AdamW)
        inner._create_all_weights(variables)
    else:
        inner.build(variables)


def make_loss(label_smoothing: float) -> Any:
    """Cross-entropy on the logits of sparse labels, smoothed when ``label_smoothing`` > 0."""
    import tensorflow as tf
    import tf_keras

    if label_smoothing == 0:
        return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def smoothed_sparse_crossentropy(y_true: Any, logits: Any) -> Any:
        logits = tf.cast(logits, tf.float32)
        one_hot = tf.one_hot(tf.reshape(tf.cast(y_true, tf.int32), [-1]), tf.shape(logits)[-1])
        return tf_keras.losses.categorical_crossentropy(
            one_hot, logits, from_logits=True, label_smoothing=label_smoothing
        )

    return smoothed_sparse_crossentropy


def balanced_class_weights(y_train: np.ndarray, n_classes: int) -> np.ndarray:
    """sklearn's "balanced" weight per label id: n / (classes x count); 1 for absent ids."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y_train)
    weights = np.ones(n_classes, dtype=np.float32)
    weights[present] = compute_class_weight("balanced", classes=present, y=y_train)
    return weights


def is_head(variable: Any) -> bool:
    """The new head: the classifier, and the pooler (new in checkpoints that lack one)."""
    return "classifier" in variable.name or "pooler" in variable.name


def use_head_optimizer(model: Any, head_optimizer: Any) -> None:
    """Train ``model`` with ``model.optimizer`` for the body and ``head_optimizer`` for the head.

    Replaces the model's train_step (transformers' one calls a single ``optimizer.minimize``):
    the same loss and metrics, one gradient, applied by the two optimizers to their variables.
    """
    import tensorflow as tf
    import tf_keras

    def train_step(data: Any) -> dict[str, Any]:
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            logits = model(x, training=True).logits
            loss = model.compiled_loss(y, logits, sample_weight, regularization_losses=model.losses)
        variables = model.trainable_variables
        grads = tape.gradient(loss, variables)
        pairs = list(zip(grads, variables, strict=True))
        model.optimizer.apply_gradients([(g, v) for g, v in pairs if not is_head(v)])
        head_optimizer.apply_gradients([(g, v) for g, v in pairs if is_head(v)])
        model.compiled_metrics.update_state(y, logits, sample_weight)
        return {m.name: m.result() for m in model.metrics}

    model.train_step = train_step


def current_lr(optimizer: Any) -> float:
    import tf_keras

    inner = getattr(optimizer, "inner_optimizer", optimizer)
    lr = inner._get_hyper("learning_rate") if hasattr(inner, "_get_hyper") else inner._learning_rate
    if isinstance(lr, tf_keras.optimizers.schedules.LearningRateSchedule):
        lr = lr(inner.iterations)
    return float(lr.numpy() if hasattr(lr, "numpy") else lr)  # a MirroredVariable under a strategy
