"""Cost per training step of a teacher from another runtime, online and cached.

Times `Distiller.fit` steps (after a warm-up epoch) with the same MLP teacher
as a Keras model, as an ONNX file (ONNX Runtime through a host call), as a
torch module (TorchTeacher) and from a TeacherCache, on the current
KERAS_BACKEND. Prints a markdown table row per teacher.

    KERAS_BACKEND=tensorflow python benchmarks/foreign_teachers.py
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import keras_distill  # noqa: E402

FEATURES, HIDDEN, CLASSES, SAMPLES, BATCH = 784, 512, 10, 8192, 128


def _torch_teacher():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES)
    ).eval()


def _keras_copy(module):
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(HIDDEN, activation="relu"),
                              keras.layers.Dense(CLASSES)])
    for layer, linear in zip(model.layers, [module[0], module[2]]):
        layer.set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])
    return model


def _step_ms(teacher, x, y, cached):
    student = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(64, activation="relu"),
                                keras.layers.Dense(CLASSES)])
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(optimizer="adam", alpha=0.0)
    inputs = keras_distill.TeacherCache.compute(teacher, x).inputs(x) if cached else x
    distiller.fit(inputs, y, epochs=1, batch_size=BATCH, verbose=0)
    start = time.perf_counter()
    epochs = 2
    distiller.fit(inputs, y, epochs=epochs, batch_size=BATCH, verbose=0)
    return 1000 * (time.perf_counter() - start) / (epochs * SAMPLES // BATCH)


def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, SAMPLES).astype("int32")
    module = _torch_teacher()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "teacher.onnx")
        torch.onnx.export(module, (torch.zeros(2, FEATURES),), path, input_names=["x"],
                          dynamic_axes={"x": {0: "batch"}}, dynamo=False)
        rows = [
            ("Keras teacher, online", _keras_copy(module), False),
            ("OnnxTeacher, online (host call)", keras_distill.teachers.OnnxTeacher(path), False),
            ("TorchTeacher, online (host call)",
             keras_distill.teachers.TorchTeacher(module, input_shape=(FEATURES,)), False),
            ("OnnxTeacher, cached", keras_distill.teachers.OnnxTeacher(path), True),
        ]
        backend = keras.backend.backend()
        for label, teacher, cached in rows:
            print(f"| {backend} | {label} | {_step_ms(teacher, x, y, cached):.2f} |", flush=True)


if __name__ == "__main__":
    main()
