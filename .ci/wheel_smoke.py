"""Smoke test of the built wheel: run from outside the repository, against the wheel's files only."""

import os
import sys

import numpy as np

import keras_distill

site, out = sys.argv[1], sys.argv[2]
assert keras_distill.__file__.startswith(site), f"imported {keras_distill.__file__}, not the wheel"
import keras  # noqa: E402

rng = np.random.default_rng(0)
x, y = rng.normal(size=(128, 8)).astype("float32"), rng.integers(0, 3, 128)


def mlp(width):
    return keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(width, activation="relu"), keras.layers.Dense(3)]
    )


teacher, student = mlp(16), mlp(4)
pairs = [keras_distill.features.FeaturePair(None, None)]
distiller = keras_distill.Distiller(teacher, student, features=pairs)
distiller.compile(student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = distiller.fit(x, y, epochs=2, verbose=0)
assert np.isfinite(history.history["loss"]).all()
result = keras_distill.export_tflite(distiller, os.path.join(out, "s.tflite"), sample_inputs=x)
assert result.verified, result
# The command line ships as the top-level module `keras_distill_cli`.
import keras_distill_cli  # noqa: E402

assert keras_distill_cli.__file__.startswith(site), keras_distill_cli.__file__
status = keras_distill_cli.main(["export", os.path.join(out, "missing.keras"), "--out", "x.onnx"])
assert status == 2, status
location = os.path.dirname(keras_distill.__file__)
print(f"wheel smoke test: keras_distill {keras_distill.__version__} from {location}; {result}")
