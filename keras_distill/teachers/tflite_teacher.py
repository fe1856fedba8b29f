"""A teacher from a TFLite (LiteRT) file."""

import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import CorruptFileError
from keras_distill.export.runtimes import tflite_runner
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.runtime_file import open_with

_WHAT = "TFLite model (.tflite)"


def _open(litert, path):
    from keras_distill.core.native_output import quiet_native_output

    with open(path, "rb") as f:
        content = f.read()
    with quiet_native_output():
        runner = litert.Interpreter(model_content=content).get_signature_runner()
    return runner.get_input_details(), tflite_runner(path, [])


@register
class TFLiteTeacher(ForeignTeacher):
    """A teacher from a `.tflite` file, run by the LiteRT interpreter.

    Integer (int8) inputs and outputs are quantized and dequantized with the
    file's own scales, so the teacher takes and returns floats. The caches
    fingerprint it by the file's hash.

    Args:
        path: The `.tflite` file (with a signature, as TensorFlow's converter
            and `keras_distill.export_tflite` write).
        name: Defaults to `"tflite_teacher"`.

    Raises:
        ImportError: `ai-edge-litert` is not installed.
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: LiteRT cannot load the file, or it has several outputs.

    Example:

    ```python
    keras_distill.export_tflite(teacher, "teacher.tflite")
    tflite_teacher = keras_distill.teachers.TFLiteTeacher("teacher.tflite")
    cache = keras_distill.TeacherCache.compute(tflite_teacher, x_train)
    ```
    """

    def __init__(self, path, name="tflite_teacher"):
        (details, runner), digest = open_with(
            "ai_edge_litert.interpreter", "A TFLite teacher", path, _WHAT, _open
        )
        details = [details[key] for key in sorted(details)]
        shapes = [tuple(int(d) if d > 0 else None for d in
                        list(item.get("shape_signature", item["shape"]))[1:]) for item in details]
        super().__init__(
            shapes[0] if len(shapes) == 1 else shapes,
            source_fingerprint=f"tflite:{digest}", name=name,
        )
        self.source_path = str(path)
        self.file_hash = digest
        self._runner = runner
        self.check_outputs()

    def run(self, inputs):
        flat = inputs if isinstance(inputs, list) else [inputs]
        outputs = self._runner([np.asarray(a, "float32") for a in flat])
        if len(outputs) != 1:
            raise CorruptFileError(
                self.source_path, f"single-output {_WHAT}", f"it has {len(outputs)} outputs",
                "Export the model with one output (the logits).",
            )
        return outputs[0]

    def get_config(self):
        return {"name": self.name, "path": self.source_path}
