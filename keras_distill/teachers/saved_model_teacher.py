"""A teacher from a TensorFlow SavedModel folder."""

import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import CorruptFileError
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.runtime_file import open_with

_WHAT = "SavedModel (folder)"


def _load(tf, path):
    return tf.saved_model.load(path)


@register
class SavedModelTeacher(ForeignTeacher):
    """A teacher from a SavedModel folder, run by TensorFlow (on any Keras backend).

    Calls the endpoint `endpoint` (`"serve"`, as `keras_distill.export_saved_model`
    and `model.export` write) or, where the folder has none, its
    `serving_default` signature. The caches fingerprint it by the hash of
    every file in the folder.

    Args:
        path: The SavedModel folder.
        endpoint: The endpoint to call. Defaults to `"serve"`.
        output: The output key of a signature returning a dict of several
            outputs. Defaults to `None` (the only one).
        name: Defaults to `"saved_model_teacher"`.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: TensorFlow cannot load the folder, or it has no
            such endpoint or signature.

    Example:

    ```python
    keras_distill.export_saved_model(teacher, "teacher_saved_model")
    saved_teacher = keras_distill.teachers.SavedModelTeacher("teacher_saved_model")
    ```
    """

    def __init__(self, path, endpoint="serve", output=None, name="saved_model_teacher"):
        loaded, digest = open_with("tensorflow", "A SavedModel teacher", path, _WHAT, _load, folder=True)
        fn = getattr(loaded, endpoint, None)
        if fn is None:
            fn = getattr(loaded, "signatures", {}).get("serving_default")
        if fn is None:
            raise CorruptFileError(
                path, _WHAT, f"it has no endpoint {endpoint!r} and no serving_default signature",
                "Pass `endpoint=` naming one of its functions.",
            )
        specs = _input_specs(fn)
        super().__init__(
            [tuple(s.shape[1:]) for s in specs] if len(specs) > 1 else tuple(specs[0].shape[1:]),
            source_fingerprint=f"saved_model:{digest}:{endpoint}:{output}",
            input_dtype=specs[0].dtype.name, name=name,
        )
        self.source_path = str(path)
        self.endpoint = endpoint
        self.output_name = output
        self.file_hash = digest
        self._loaded, self._fn, self._specs = loaded, fn, specs
        # Signatures take keyword arguments; restored functions positional ones.
        self._by_name = hasattr(fn, "structured_input_signature") and bool(fn.structured_input_signature[1])
        self.check_outputs()

    def run(self, inputs):
        import tensorflow as tf

        flat = inputs if isinstance(inputs, list) else [inputs]
        tensors = [tf.constant(a, dtype=s.dtype) for a, s in zip(flat, self._specs)]
        if self._by_name:
            outputs = self._fn(**{s.name: t for s, t in zip(self._specs, tensors)})
        else:
            outputs = self._fn(*tensors)
        if isinstance(outputs, dict):
            keys = sorted(outputs)
            if self.output_name is None and len(keys) != 1:
                raise CorruptFileError(
                    self.source_path, _WHAT, f"its endpoint returns several outputs {keys}",
                    "Pass `output=` naming the one that holds the logits.",
                )
            outputs = outputs[self.output_name or keys[0]]
        return np.asarray(outputs)

    def get_config(self):
        return {"name": self.name, "path": self.source_path, "endpoint": self.endpoint,
                "output": self.output_name}


def _input_specs(fn):
    import tensorflow as tf

    if hasattr(fn, "structured_input_signature"):
        args, kwargs = fn.structured_input_signature
    else:
        args, kwargs = fn.input_signature or (), {}
    specs = tf.nest.flatten(args) if args else [kwargs[key] for key in sorted(kwargs)]
    if not specs:
        raise ValueError("The SavedModel endpoint takes no inputs.")
    return specs
