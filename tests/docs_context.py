"""What a guide's code blocks assume the reader already has, built small.

The guides show fragments of a larger program ("given a teacher, a student and
MNIST-shaped data..."). `context(page)` builds those names so the fragments run
as written: flattened 28x28 images (scikit-learn's 8x8 digits, each pixel a 3x3
block, padded by 2), a trained MLP teacher and an untrained student whose hidden
layer is named `backbone`. Data sizes are small so that the guides' epoch counts
stay affordable in CI.
"""

import keras
import numpy as np

from tests import testing


def _images():
    x, y = testing.digits()
    x = np.kron(x.reshape(-1, 8, 8), np.ones((3, 3), "float32"))
    x = np.pad(x, ((0, 0), (2, 2), (2, 2))).reshape(len(x), 784)
    return x.astype("float32"), y


def _mlp(hidden, name):
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dense(hidden, activation="relu", name="backbone"),
            keras.layers.Dense(10, name="head"),
        ],
        name=name,
    )


def _base(train):
    keras.utils.set_random_seed(0)
    x, y = _images()
    teacher = _mlp(64, "teacher")
    teacher.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    teacher_history = teacher.fit(x[:1297], y[:1297], epochs=10, batch_size=64, verbose=0)
    x_train, y_train = x[:train], y[:train]
    return {
        "keras": keras,
        "teacher_history": teacher_history,
        "np": np,
        "teacher": teacher,
        "student": _mlp(32, "student"),
        "x_train": x_train,
        "y_train": y_train,
        "w_train": np.ones(len(x_train), "float32"),
        "x_val": x[1297:1497],
        "y_val": y[1297:1497],
        "x_test": x[1497:],
        "y_test": y[1497:],
        "x": x_train,
        "y": y_train,
        "images": x[1497:1505],
    }


def _compiled_distiller(names):
    import keras_distill

    distiller = keras_distill.Distiller(names["teacher"], names["student"])
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return distiller


def context(page):
    """The names that `page`'s code blocks use without defining them."""
    # Pages whose blocks train for tens to hundreds of epochs get fewer samples.
    train = {"distiller.md": 128, "callbacks.md": 256, "cache.md": 256, "tuning.md": 512}.get(page, 1297)
    names = _base(train)
    if page in ("backends.md", "distributed.md"):
        names["teacher"].save("teacher.keras")
    if page == "distributed.md":
        names.update(process_id=0, x_shard=names["x_train"][:256], y_shard=names["y_train"][:256])
    if page in ("callbacks.md", "export.md"):
        names["distiller"] = _compiled_distiller(names)
    if page == "export.md":
        # A trained student, so that int8 agrees with float on >= 99% of samples.
        names["distiller"].fit(names["x_train"], names["y_train"], epochs=10, verbose=0)
    if page == "report.md":
        names.update(_report_inputs(names))
    return names


def _report_inputs(names):
    import keras_distill

    distiller = _compiled_distiller(names)
    x, y = names["x_train"], names["y_train"]
    student_alone = keras.models.clone_model(names["student"])
    student_alone.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    sample = {"sample_inputs": names["x_test"]}
    return {
        "distiller": distiller,
        "distill_history": distiller.fit(x, y, epochs=3, verbose=0),
        "student_alone": student_alone,
        "alone_history": student_alone.fit(x, y, epochs=3, verbose=0),
        "onnx_result": keras_distill.export_onnx(names["student"], "student.onnx", **sample),
        "tflite_int8_result": keras_distill.export_tflite(
            names["student"], "student_int8.tflite", quantization="int8",
            representative_data=x[:200], min_agreement=0.0, **sample,
        ),
    }
