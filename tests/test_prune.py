"""prune_and_distill: sparsity reached, distillation effective, export verified, bad input."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.optimize.tfmot_import import import_tfmot
from tests import optimize_testing as ot

# tfmot: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)
    x, y = ot.data(512)
    teacher = ot.teacher(sharp=True)
    return x, y, teacher, ot.cache(teacher, x)


def _constant_half():
    tfmot, _ = import_tfmot("the pruning tests")
    return tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=4)


@pytest.mark.parametrize(
    "schedule, target",
    [("polynomial", 0.8), ("constant", 0.8), (_constant_half, 0.5)],
    ids=["polynomial", "constant", "tfmot_schedule"],
)
def test_kernels_reach_target_sparsity_and_export_verifies(setup, tmp_path, schedule, target):
    x, y, _, cache = setup
    student = ot.student()
    before = [w.copy() for w in student.get_weights()]
    pruned = kd.optimize.prune_and_distill(
        student,
        cache,
        (x, y),
        target_sparsity=0.8,
        schedule=schedule() if callable(schedule) else schedule,
        epochs=1,
        batch_size=64,
    )
    assert isinstance(pruned, keras.Model) and pruned is not student
    assert [layer.name for layer in pruned.layers] == [layer.name for layer in student.layers]
    sparsity = kd.optimize.kernel_sparsity(pruned)
    assert len(sparsity) == 2
    for layer in pruned.layers:
        if isinstance(layer, keras.layers.Dense):
            kernel = np.asarray(layer.kernel)
            assert np.mean(kernel == 0) == pytest.approx(target, abs=0.01)
            assert np.mean(np.asarray(layer.bias) == 0) < 0.5
    for old, new in zip(before, student.get_weights()):
        np.testing.assert_array_equal(old, new)
    result = kd.export_tflite(pruned, tmp_path / "pruned.tflite", sample_inputs=x[:128])
    assert result.verified and result.agreement == 1.0 and result.max_abs_diff <= 1e-5


def test_pruned_student_learns_the_teacher(setup):
    # The teacher itself (not a cache): its logits are computed once inside.
    x, _, teacher, _ = setup
    student = ot.student()
    before = ot.agreement(student, teacher, x)
    pruned = kd.optimize.prune_and_distill(
        student,
        teacher,
        x,
        target_sparsity=0.5,
        schedule="constant",
        epochs=10,
        batch_size=32,
        learning_rate=1e-2,
        temperature=1.0,
    )
    assert kd.optimize.kernel_sparsity(pruned)["dense"] == pytest.approx(0.5, abs=0.01)
    after = ot.agreement(pruned, teacher, x)
    assert after >= 0.75 and after > before + 0.3


def _softmax_student():
    return keras.Sequential(
        [keras.Input((ot.FEATURES,)), keras.layers.Dense(ot.CLASSES, activation="softmax")]
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"target_sparsity": 1.0}, "target_sparsity"),
        ({"schedule": "cubic"}, "schedule"),
        ({"epochs": 0}, "epochs"),
        # The Distiller's checks: a bool is not a temperature or an alpha.
        ({"temperature": True}, "temperature"),
        ({"alpha": True}, "alpha"),
        ({"data": "inputs only", "alpha": 0.5}, "alpha=0.5"),
        ({"data": "other inputs"}, "not the data this cache"),
        ({"student": _softmax_student}, "outputs logits"),
        ({"data": "float labels"}, "integer class labels"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_arguments_are_named(setup, kwargs, match):
    x, y, _, cache = setup
    data = {
        "inputs only": x,
        "other inputs": (x + 1.0, y),
        "float labels": (x, y.astype("float32")),
    }.get(kwargs.pop("data", None), (x, y))
    student = kwargs.pop("student", ot.student)()
    with pytest.raises(ValueError, match=match):
        kd.optimize.prune_and_distill(student, cache, data, **kwargs)


def test_kernel_sparsity_counts_zeros():
    student = ot.student(hidden=4)
    first = student.layers[0]
    kernel = np.ones(first.kernel.shape, "float32")
    kernel[:, :1] = 0.0
    first.kernel.assign(kernel)
    sparsity = kd.optimize.kernel_sparsity(student)
    assert sparsity[first.name] == pytest.approx(0.25)
    assert len(sparsity) == 2
