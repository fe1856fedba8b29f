"""Finding a model's layers and reading their outputs from the model's own forward pass.

A layer's output is recorded while the model runs as usual, so the student's
features and logits come out of one forward pass (no second model, no second
call). Recording works on every backend and inside compiled steps: the layer's
`call` is wrapped for the duration of one forward pass and restored after it.
"""

import contextlib
import functools

import keras

from keras_distill.core import layer_calls


def _nested_layers(model, prefix=""):
    """`(path, layer)` for every layer of `model`, nested models included."""
    found = []
    for layer in getattr(model, "layers", None) or model._flatten_layers(include_self=False):
        path = f"{prefix}{layer.name}"
        found.append((path, layer))
        if getattr(layer, "layers", None) or isinstance(layer, keras.Model):
            found.extend(_nested_layers(layer, prefix=f"{path}/"))
    return found


def find_layer(model, reference, argument, model_name):
    """Resolves a layer name, path (`"block/conv"`) or object to `(layer, path)`.

    Args:
        model: The teacher or the student.
        reference: A layer name, a `/`-separated path through nested models,
            or a layer object of `model`.
        argument: The argument's name, for errors.
        model_name: `"teacher"` or `"student"`, for errors.

    Returns:
        The layer and its path in `model`.
    """
    layers = _nested_layers(model)
    if isinstance(reference, keras.layers.Layer):
        for path, layer in layers:
            if layer is reference:
                return layer, path
        raise ValueError(
            f"`{argument}`: the layer {reference.name!r} is not a layer of the "
            f"{model_name} ({model.name!r})."
        )
    if not isinstance(reference, str):
        raise TypeError(
            f"`{argument}` must be a layer name, a 'outer/inner' path, a layer object or "
            f"None (the final outputs). Received: {reference!r}"
        )
    matches = [(p, layer) for p, layer in layers if p == reference]
    if not matches:
        matches = [(p, layer) for p, layer in layers if layer.name == reference]
    if len(matches) == 1:
        layer, path = matches[0][1], matches[0][0]
        if isinstance(layer, keras.layers.InputLayer):
            raise ValueError(
                f"`{argument}`: {reference!r} is an input of the {model_name}; "
                "pick a layer that computes features."
            )
        return layer, path
    if matches:
        raise ValueError(
            f"`{argument}`: several layers of the {model_name} are named {reference!r}: "
            f"{[p for p, _ in matches]}. Pass the path or the layer object."
        )
    names = [p for p, layer in layers if not isinstance(layer, keras.layers.InputLayer)]
    shown = ", ".join(repr(n) for n in names[:30]) + (" ..." if len(names) > 30 else "")
    raise ValueError(
        f"`{argument}`: the {model_name} ({model.name!r}) has no layer {reference!r}. "
        f"Its layers: {shown}."
    )


class _Recording:
    """Outputs of the watched layers during one forward pass."""

    def __init__(self, layers, paths, model_name):
        self.outputs = {id(layer): [] for layer in layers}
        self.paths = {id(layer): path for layer, path in zip(layers, paths)}
        self.model_name = model_name

    def output_of(self, layer):
        """The single output the layer produced in this pass."""
        values = self.outputs[id(layer)]
        path = self.paths[id(layer)]
        if not values:
            raise ValueError(
                f"The {self.model_name}'s layer {path!r} did not run in the forward pass "
                "(a final layer folded into the teacher's logits runs only as part of "
                "them: match the final outputs with layer=None instead)."
            )
        if len(values) > 1:
            raise ValueError(
                f"The {self.model_name}'s layer {path!r} ran {len(values)} times in one "
                "forward pass (a shared layer); pick a layer that runs once."
            )
        value = values[0]
        if isinstance(value, (list, tuple, dict)):
            raise ValueError(
                f"The {self.model_name}'s layer {path!r} returns a "
                f"{type(value).__name__}, not one tensor; pick a layer with one output."
            )
        return value


@contextlib.contextmanager
def record_outputs(layers, paths, model_name):
    """Records what each layer returns while the block runs; restores them after.

    Yields:
        A recording whose `output_of(layer)` is the layer's output.
    """
    recording = _Recording(layers, paths, model_name)

    def recorders():
        for layer in {id(layer): layer for layer in layers}.values():
            original = layer.call
            sink = recording.outputs[id(layer)]

            @functools.wraps(original)
            def recorded(*args, _original=original, _sink=sink, **kwargs):
                outputs = _original(*args, **kwargs)
                _sink.append(outputs)
                return outputs

            yield layer, recorded

    with layer_calls.replaced_calls(recorders()):
        yield recording
