"""Measuring how many kernel weights are exactly zero."""

import numpy as np


def kernel_sparsity(model):
    """The fraction of zeros in each kernel of `model`.

    Args:
        model: A Keras 3 or `tf_keras` model.

    Returns:
        A dict `{layer name: fraction of zero kernel entries}` for every layer
        with a `kernel` (or `depthwise_kernel`).

    Example:

    ```python
    keras_distill.optimize.kernel_sparsity(pruned)  # {"dense": 0.8, ...}
    ```
    """
    fractions = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            kernel = getattr(layer, "depthwise_kernel", None)
        if kernel is not None:
            fractions[layer.name] = float(np.mean(np.asarray(kernel) == 0))
    return fractions
