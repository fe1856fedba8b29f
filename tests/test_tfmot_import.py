"""tfmot is imported lazily and leaves `keras`, `tf.keras` and the environment as they were."""

import json
import os
import subprocess
import sys

import pytest

from keras_distill.optimize import tfmot_import

# tfmot: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A user session: import keras_distill (which must not import tfmot), prune a
# student (which must), then report where each Keras name leads. Nothing
# touches `tf.keras` before the pruning, so a leak would show.
_SESSION = """
import json, os, sys, keras, tensorflow as tf, keras_distill as kd
def loaded(package):
    return sorted(m for m in sys.modules if m.split(".")[0] == package)
after_import = {p: loaded(p) for p in ("tensorflow_model_optimization", "tf_keras")}
from tests import optimize_testing as ot
x, y = ot.data(64)
pruned = kd.optimize.prune_and_distill(
    ot.student(8), ot.teacher(), (x, y), schedule="constant", epochs=1, batch_size=32)
def package(name):
    try:
        return eval(name).Model.__module__.split(".")[0]
    except AttributeError as error:
        return type(error).__name__
print(json.dumps({
    "after_import": after_import,
    "after_pruning": bool(loaded("tensorflow_model_optimization")),
    "pruned_is_keras_3": isinstance(pruned, keras.Model),
    "variable": os.environ.get("TF_USE_LEGACY_KERAS"),
    "keras": keras.__version__.split(".")[0],
    "packages": [package(name) for name in
                 ("tf.keras", "tf.compat.v1.keras", "tf.compat.v2.keras")],
}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("variable", [None, "1"], ids=["unset", "legacy"])
def test_import_is_lazy_and_keras_is_unchanged_after_pruning(variable):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if variable is not None:
        env["TF_USE_LEGACY_KERAS"] = variable
    env.update(TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    done = subprocess.run(
        [sys.executable, "-c", _SESSION], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["after_import"]["tensorflow_model_optimization"] == []
    if variable is None:
        assert seen["after_import"]["tf_keras"] == []
    assert seen["after_pruning"] and seen["pruned_is_keras_3"]
    assert seen["variable"] == variable
    assert seen["keras"] == "3"
    # Without the variable TensorFlow routes every `tf.keras` to Keras 3; with
    # TF_USE_LEGACY_KERAS=1 the user asked for tf_keras, and keeps it.
    expected = "tf_keras" if variable == "1" else "keras"
    assert seen["packages"] == [expected] * 3


def test_missing_tfmot_names_the_extra_and_restores_the_variable(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_model_optimization", None)
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "0")
    with pytest.raises(ImportError, match=r'pip install "keras-distill\[tfmot\]"'):
        tfmot_import.import_tfmot("Pruning")
    assert os.environ["TF_USE_LEGACY_KERAS"] == "0"


def test_variable_is_restored_after_import(monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "0")
    tfmot, tf_keras = tfmot_import.import_tfmot("Pruning")
    assert os.environ["TF_USE_LEGACY_KERAS"] == "0"
    assert tfmot.sparsity.keras.prune_low_magnitude and tf_keras.Model
