"""DistillationReport without exports runs on the active backend (TensorFlow or JAX)."""

import keras
import numpy as np

import keras_distill as kd
from tests import testing


def test_report_on_this_backend(tmp_path):
    x, y = testing.digits(200)
    teacher = testing.mlp(64, 64, 10, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=5, verbose=0)
    student = testing.mlp(64, 8, 10, name="student")
    report = kd.DistillationReport(teacher, student, x, y, baseline=student, latency_samples=5,
                                   image_shape=(8, 8))
    results = report.results
    for model in results["models"].values():
        assert model["latency_ms"] > 0 and model["compiled_latency_ms"] > 0
    assert results["distillation"]["gap_closed"] in (None, 0.0)
    np.testing.assert_allclose(
        results["per_class"]["accuracy"]["teacher"],
        kd.report.metrics.per_class_accuracy(y, report.logits("teacher")),
    )
    paths = report.save(tmp_path)
    assert {"markdown", "json", "disagreements"} <= set(paths)
