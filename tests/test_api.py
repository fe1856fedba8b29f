"""The public API exists and every public class is registered for serialization."""

import inspect

import keras
import pytest

import keras_distill as kd

PUBLIC = [
    "Distiller",
    "losses",
    "transfer_weights",
    "TransferResult",
    "__version__",
]
REGISTERED = [
    kd.Distiller,
    kd.losses.DistillationLoss,
    kd.losses.KDLoss,
    kd.losses.SoftTargetCrossEntropy,
    kd.losses.LogitMSE,
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_exist(name):
    assert hasattr(kd, name)


@pytest.mark.parametrize("cls", REGISTERED, ids=lambda c: c.__name__)
def test_public_classes_are_registered(cls):
    assert keras.saving.get_registered_name(cls) == f"keras_distill>{cls.__name__}"
    assert keras.saving.get_registered_object(f"keras_distill>{cls.__name__}") is cls


def test_public_callables_have_docstrings():
    for name in ("kd_loss", "soft_target_cross_entropy", "logit_mse", "get"):
        assert inspect.getdoc(getattr(kd.losses, name))
    assert "Args:" in inspect.getdoc(kd.Distiller)
