"""Hard labels as one-hot float32 rows, from integer classes or one-hot/soft labels."""

from keras import ops


def one_hot_labels(labels, num_classes):
    """Returns `(batch, num_classes)` float32 one-hot rows.

    Integer labels of shape `(batch,)` or `(batch, 1)` are encoded; float
    labels with `num_classes` columns (one-hot or soft) become the one-hot
    row of their largest entry.
    """
    shape = tuple(labels.shape)
    if len(shape) == 2 and shape[-1] == num_classes and num_classes > 1:
        return ops.one_hot(ops.argmax(labels, axis=-1), num_classes, dtype="float32")
    if len(shape) == 2 and shape[-1] == 1:
        labels = ops.squeeze(labels, axis=-1)
    if len(labels.shape) != 1:
        raise ValueError(
            f"Labels must be integer classes of shape (batch,) or (batch, 1), or "
            f"one-hot rows of shape (batch, {num_classes}). Received shape {shape}."
        )
    return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype="float32")
