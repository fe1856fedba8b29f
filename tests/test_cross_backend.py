"""Train on JAX, then load, keep training and export on TensorFlow (each in its own process)."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = [pytest.mark.tensorflow_only, pytest.mark.slow]

_TRAIN_ON_JAX = """
import keras, numpy as np, keras_distill as kd
from tests import testing
x, y = testing.digits(256)
teacher = testing.mlp(64, 64, 10, name="teacher")
student = testing.mlp(64, 16, 10, name="student")
distiller = kd.Distiller(teacher, student, mix=kd.augment.MixUp(), seed=0)
distiller.compile(optimizer="adam", alpha=0.2, temperature=2.0,
                  student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
distiller.fit(x, y, epochs=2, verbose=0)
try:
    kd.export_tflite(student, "{out}/refused.tflite")
except kd.errors.ExportConversionError as error:
    print("EXPORT-ERROR:", error)
distiller.save("{out}/distiller.keras")
student.save("{out}/student.keras")
np.save("{out}/predictions.npy", distiller.predict(x, verbose=0))
"""


def test_train_on_jax_then_continue_and_export_on_tensorflow(tmp_path):
    pytest.importorskip("jax")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=root)
    done = subprocess.run(
        [sys.executable, "-c", _TRAIN_ON_JAX.format(out=tmp_path)], env=env, cwd=root,
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # On JAX the exporters refuse with the route to take.
    assert "KERAS_BACKEND=tensorflow keras-distill export student.keras" in done.stdout
    assert not (tmp_path / "refused.tflite").exists()

    import keras

    import keras_distill as kd
    from tests import testing

    x, y = testing.digits(256)
    distiller = keras.models.load_model(tmp_path / "distiller.keras")
    np.testing.assert_allclose(
        distiller.predict(x, verbose=0), np.load(tmp_path / "predictions.npy"), rtol=1e-5, atol=1e-5
    )
    assert float(keras.ops.convert_to_numpy(distiller.alpha)) == pytest.approx(0.2)
    history = distiller.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    result = kd.export_tflite(
        keras.models.load_model(tmp_path / "student.keras"), str(tmp_path / "student.tflite"),
        sample_inputs=x,
    )
    assert result.verified and result.agreement == 1.0


_TRAIN_ON_TORCH = """
import keras, keras_distill as kd
from tests import testing
x, y = testing.digits(128)
distiller = kd.Distiller(testing.mlp(64, 32, 10, name="teacher"), testing.mlp(64, 16, 10, name="student"))
distiller.compile(optimizer=keras.optimizers.Adam(2e-3), alpha=0.2,
                  student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
distiller.fit(x, y, epochs=1, verbose=0)
distiller.save("{out}/distiller.keras")
"""

_CONTINUE = """
import keras, numpy as np, keras_distill as kd
from tests import testing
x, y = testing.digits(128)
distiller = keras.models.load_model("{out}/distiller.keras")
history = distiller.fit(x, y, epochs=1, verbose=0)
assert np.isfinite(history.history["loss"][0])
print("OPTIMIZER", type(distiller.optimizer).__module__, float(distiller.optimizer.learning_rate))
"""


@pytest.mark.slow
def test_train_on_torch_then_continue_on_tensorflow_and_jax(tmp_path):
    """Under torch the optimizer's class lives in keras.src.backend.torch; the file names the public one."""
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(backend, script):
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=root)
        done = subprocess.run(
            [sys.executable, "-c", script.format(out=tmp_path)], env=env, cwd=root,
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, f"{backend}: {done.stderr[-3000:]}"
        return done.stdout

    run("torch", _TRAIN_ON_TORCH)
    for backend in ("tensorflow", "jax", "torch"):
        line = run(backend, _CONTINUE).strip().splitlines()[-1]
        module, learning_rate = line.split()[1:]
        assert ("torch" in module) == (backend == "torch"), line
        assert float(learning_rate) == pytest.approx(2e-3)
