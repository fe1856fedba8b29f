"""Distils on the backend of `KERAS_BACKEND` and prints every attempt to import TensorFlow.

    KERAS_BACKEND=jax python -m tests.no_tensorflow_child

A meta-path hook, installed before anything else is imported, records the
stack of each `import tensorflow` (and of its submodules) and refuses the
import, so that a caller that would have loaded TensorFlow shows up even
where it falls back when TensorFlow is missing (Keras checks
`module_utils.tensorflow.available` in several places). The run covers a fit on a
`TeacherCache` under a `PhaseScheduler` (a phase that freezes a layer, and one
that changes alpha and the temperature), `evaluate` and `predict`. The last
line is a JSON object: `{"backend": ..., "imports": [stack, ...]}`.
"""

import importlib.abc
import importlib.util
import json
import sys
import traceback

attempts = []


class _RecordTensorFlowImports(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `tensorflow`, so that probes (`importlib.util.find_spec`) see it installed,
    and records and refuses loading it."""

    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        attempts.append("".join(traceback.format_stack(limit=25)[:-1]))
        raise ImportError(f"{module.__name__} is blocked by tests/no_tensorflow_child.py")


already_loaded = "tensorflow" in sys.modules
sys.meta_path.insert(0, _RecordTensorFlowImports())

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras.src.utils import module_utils  # noqa: E402

import keras_distill as kd  # noqa: E402


class _UncachedLazyModule(module_utils.LazyModule):
    """Keras's lazy `tensorflow` module, asking again on every `available`.

    Keras remembers a failed import; asking again records every caller, not
    only the first.
    """

    @property
    def available(self):
        self._available = None
        return super().available


module_utils.tensorflow.__class__ = _UncachedLazyModule


def _mlp(name, hidden):
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dense(4, name="head"),
        ],
        name=name,
    )


def main():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = rng.integers(0, 4, size=(64,)).astype("int32")
    teacher = _mlp("teacher", 16)
    student = _mlp("student", 8)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(0.01),
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn="kd_loss",
        alpha=0.1,
        temperature=4.0,
    )
    cache = kd.TeacherCache.compute(teacher, x)
    phases = kd.callbacks.PhaseScheduler([
        kd.Phase("head_only", epochs=1, trainable={"hidden": False}),
        kd.Phase("all", alpha=0.5, temperature=2.0, trainable=True),
    ])
    history = distiller.fit(
        cache.inputs(x), y, batch_size=16, epochs=2, callbacks=[phases], verbose=0
    )
    assert history.history["phase"] == [0, 1], history.history
    distiller.evaluate(x, y, batch_size=16, verbose=0)
    distiller.predict(x, batch_size=16, verbose=0)
    imports = attempts if not already_loaded else ["tensorflow was loaded before the hook"]
    print(json.dumps({"backend": keras.backend.backend(), "imports": imports}))


if __name__ == "__main__":
    main()
