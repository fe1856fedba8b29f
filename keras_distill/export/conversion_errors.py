"""Converter failures as `ExportConversionError`s that name the layer, the op and the fix."""

import re

from keras_distill.core.errors import ExportConversionError

# Ops a converter may lack, the Keras layers that emit them, and the way out.
_KNOWN = [
    (("HashTable", "LookupTable"), ("IntegerLookup", "StringLookup", "Hashing"),
     "the runtime has no hash tables: apply the lookup in your input pipeline and export the "
     "model that follows it"),
    (("Bincount",), ("CategoryEncoding",),
     "the runtime has no bincount: encode the categories in your input pipeline, or use "
     "CategoryEncoding(output_mode='one_hot') on one value per sample"),
    (("Bucketize",), ("Discretization",),
     "the runtime has no bucketize: discretize in your input pipeline and export the model "
     "that follows it"),
    (("TensorList",), ("GRU", "LSTM", "SimpleRNN", "RNN"),
     "recurrent layers over a dynamic batch: export with a fixed batch of 1 (done "
     "automatically for TFLite) or build the layer with unroll=True"),
]
_SELECT = {
    "tflite": " Or pass allow_select_tf_ops=True (`--allow-select-tf-ops`): the app then needs "
              "LiteRT's Flex delegate, which adds about 6 MB.",
    "onnx": "",
}


def layer_names(model):
    return {layer.name for layer in model._flatten_layers(include_self=False)}


def layer_of(scope_path, names):
    """The model layer a TensorFlow op name belongs to (`functional_1/dense_2_1/MatMul`)."""
    for part in scope_path.split("/"):
        candidates = [part, re.sub(r"_\d+$", "", part)]
        for candidate in candidates:
            if candidate in names:
                return candidate
    return None


def _advice(ops, model):
    classes = {type(layer).__name__: layer.name for layer in model._flatten_layers(include_self=False)}
    lines, layers = [], []
    for op_parts, layer_classes, fix in _KNOWN:
        if any(part in op for op in ops for part in op_parts):
            found = [f"{name} ({cls})" for cls, name in classes.items() if cls in layer_classes]
            layers += found
            lines.append(f"{', '.join(found) or '/'.join(layer_classes) + ' layers'}: {fix}.")
    return lines, layers


def tflite_error(error, model):
    """An `ExportConversionError` from a TFLite `ConverterError`."""
    text = str(error)
    ops = set(re.findall(r"'tf\.(\w+)' op", text))
    for listed in re.findall(r"TF Select ops: ([\w, ]+)", text):
        ops.update(op.strip() for op in listed.split(",") if op.strip())
    names = layer_names(model)
    located = {layer_of(path, names) for path in re.findall(r'fused\["\w+:", "([^"@]+)', text)}
    located.discard(None)
    lines, layers = _advice(ops, model)
    layers = sorted(set(layers) | located)
    summary = ", ".join(sorted(ops)) or "unknown"
    where = f" in layer(s) {', '.join(sorted(located))}" if located else ""
    message = (
        f"TFLite cannot convert the model with builtin ops: unsupported op(s) {summary}{where}. "
        + " ".join(lines) + _SELECT["tflite"]
    )
    return ExportConversionError(message, ops=sorted(ops), layers=layers)


def onnx_unsupported(proto, model):
    """An `ExportConversionError` when tf2onnx left TensorFlow ops in the graph, else `None`."""
    import onnx

    missing = {}
    for node in proto.graph.node:
        domain = node.domain or ""
        if domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            missing.setdefault(node.op_type, []).append(node.name)
    if not missing:
        return None
    names = layer_names(model)
    located = sorted({layer_of(n, names) for nodes in missing.values() for n in nodes} - {None})
    lines, layers = _advice(missing, model)
    where = f" in layer(s) {', '.join(located)}" if located else ""
    message = (
        f"tf2onnx has no ONNX equivalent for op(s) {', '.join(sorted(missing))}{where}. "
        + " ".join(lines)
    )
    return ExportConversionError(message, ops=sorted(missing), layers=sorted(set(layers) | set(located)))
