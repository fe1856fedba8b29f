"""A teacher from an ONNX file, run by ONNX Runtime."""

import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import CorruptFileError
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.runtime_file import open_with

_WHAT = "ONNX model (.onnx)"
_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
           "tensor(int32)": "int32", "tensor(float16)": "float16"}


def _session(onnxruntime, path):
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def _dims(shape):
    return tuple(d if isinstance(d, int) else None for d in shape[1:])


@register
class OnnxTeacher(ForeignTeacher):
    """A teacher from an `.onnx` file (a PyTorch model exported with `torch.onnx`, a model zoo file).

    ONNX Runtime runs it on the CPU. Its input shapes and dtypes are read
    from the file; its output is checked on a probe batch when the teacher is
    built. The caches fingerprint it by the file's hash.

    Args:
        path: The `.onnx` file.
        output: Name of the output that holds the logits. Defaults to `None`
            (the file's only output).
        output_activation: `None` when the output is logits, `"softmax"` when
            it is probabilities (their log is taken). Defaults to `None`.
        name: Defaults to `"onnx_teacher"`.

    Raises:
        ImportError: `onnxruntime` is not installed.
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: ONNX Runtime cannot load the file, or the output is
            ambiguous or missing.

    Example:

    ```python
    keras_distill.export_onnx(teacher, "teacher.onnx")
    onnx_teacher = keras_distill.teachers.OnnxTeacher("teacher.onnx")
    distiller = keras_distill.Distiller(onnx_teacher, student)
    ```
    """

    def __init__(self, path, output=None, output_activation=None, name="onnx_teacher"):
        if output_activation not in (None, "softmax"):
            raise ValueError(
                "`output_activation` must be None (logits) or 'softmax' (probabilities). "
                f"Received: output_activation={output_activation!r}"
            )
        session, digest = open_with("onnxruntime", "An ONNX teacher", path, _WHAT, _session)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        names = [o.name for o in outputs]
        if output is None and len(names) != 1:
            raise CorruptFileError(
                path, f"single-output {_WHAT}", f"it has outputs {names}",
                "Pass `output=` naming the one that holds the logits.",
            )
        if output is not None and output not in names:
            raise CorruptFileError(
                path, _WHAT, f"it has no output {output!r} (outputs: {names})", "Check `output=`."
            )
        dtypes = {_DTYPES.get(i.type, i.type) for i in inputs}
        if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPES.values():
            raise CorruptFileError(
                path, _WHAT, f"its inputs have dtypes {sorted(dtypes)}",
                "An ONNX teacher takes numeric inputs of one dtype.",
            )
        shapes = [_dims(i.shape) for i in inputs]
        super().__init__(
            shapes[0] if len(shapes) == 1 else shapes,
            source_fingerprint=f"onnx:{digest}:{output}:{output_activation}",
            input_dtype=dtypes.pop(), name=name,
        )
        self.source_path = str(path)
        self.output_name = output or names[0]
        self.output_activation = output_activation
        self.file_hash = digest
        self._session = session
        self._input_names = [i.name for i in inputs]
        self.check_outputs()

    def run(self, inputs):
        flat = inputs if isinstance(inputs, list) else [inputs]
        (outputs,) = self._session.run([self.output_name], dict(zip(self._input_names, flat)))
        outputs = np.asarray(outputs, "float32")
        if self.output_activation == "softmax":
            outputs = np.log(np.clip(outputs, np.finfo("float32").tiny, 1.0))
        return outputs

    def get_config(self):
        return {"name": self.name, "path": self.source_path, "output": self.output_name,
                "output_activation": self.output_activation}
