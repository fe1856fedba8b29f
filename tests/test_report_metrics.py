"""Report metrics against values computed by hand."""

import math

import numpy as np
import pytest

from keras_distill.report import metrics

LOG = math.log


def test_error_count_and_accuracy():
    logits = [[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]]
    assert metrics.error_count([0, 1, 1, 0], logits) == 2
    assert metrics.accuracy([0, 1, 1, 0], logits) == 0.5
    # One-hot labels count the same.
    assert metrics.error_count(np.eye(2)[[0, 1, 1, 0]], logits) == 2


@pytest.mark.parametrize(
    "teacher, alone, distilled, expected",
    [(67, 146, 74, 72 / 79), (10, 20, 10, 1.0), (10, 20, 20, 0.0), (10, 20, 25, -0.5),
     (20, 20, 15, None), (30, 20, 15, None)],
)
def test_gap_closed(teacher, alone, distilled, expected):
    result = metrics.gap_closed(teacher, alone, distilled)
    assert result == (None if expected is None else pytest.approx(expected))


def test_agreement():
    a = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 2.0, 0.0]]
    b = [[3.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 9.0], [0.0, 2.0, 1.0]]
    assert metrics.agreement(a, b) == 0.75


def test_mean_kl_matches_hand_computation():
    # Teacher p = (0.5, 0.5) (logits 0, 0); student q = (0.8, 0.2) (logits log 4, 0).
    # KL(p || q) = 0.5 log(0.5/0.8) + 0.5 log(0.5/0.2); a second sample with
    # identical outputs contributes 0, so the mean is half of it.
    kl = 0.5 * LOG(0.5 / 0.8) + 0.5 * LOG(0.5 / 0.2)
    teacher = [[0.0, 0.0], [1.0, 2.0]]
    student = [[LOG(4.0), 0.0], [1.0, 2.0]]
    assert metrics.mean_kl(teacher, student) == pytest.approx(kl / 2, rel=1e-12)
    assert metrics.mean_kl(student, student) == pytest.approx(0.0, abs=1e-15)
    # Temperature 2 softens the student to (2/3, 1/3).
    kl_t2 = 0.5 * LOG(0.5 / (2 / 3)) + 0.5 * LOG(0.5 / (1 / 3))
    assert metrics.mean_kl(teacher, student, temperature=2.0) == pytest.approx(kl_t2 / 2)


def test_expected_calibration_error_matches_hand_computation():
    # Top-1 confidences 0.9, 0.9, 0.6, 0.6 (two-class logits log(p / (1 - p))).
    p = np.array([0.9, 0.9, 0.6, 0.6])
    logits = np.stack([np.log(p / (1 - p)), np.zeros(4)], axis=1)
    labels = [0, 1, 0, 0]  # bin (0.8, 1]: 1 of 2 right; bin (0.4, 0.6]: 2 of 2 right
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert metrics.expected_calibration_error(labels, logits, num_bins=5) == pytest.approx(expected)
    bins = metrics.reliability_bins(labels, logits, num_bins=5)
    np.testing.assert_array_equal(bins["count"], [0, 0, 2, 0, 2])
    np.testing.assert_allclose(bins["confidence"], [0, 0, 0.6, 0, 0.9])
    np.testing.assert_allclose(bins["accuracy"], [0, 0, 1.0, 0, 0.5])


def test_perfectly_calibrated_predictions_have_zero_ece():
    # Confidence 0.75 and 3 of 4 right in the only non-empty bin.
    logits = np.tile([LOG(3.0), 0.0], (4, 1))
    assert metrics.expected_calibration_error([0, 0, 0, 1], logits) == pytest.approx(0.0, abs=1e-12)


def test_confusion_matrix():
    logits = np.eye(3)[[0, 1, 1, 2, 0]]
    matrix = metrics.confusion_matrix([0, 1, 2, 2, 2], logits)
    np.testing.assert_array_equal(matrix, [[1, 0, 0], [0, 1, 0], [1, 1, 1]])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: metrics.error_count([0, 1], [1.0, 2.0]), "`logits` must be class scores"),
        (lambda: metrics.error_count([0, 1, 1], [[1.0, 2.0]] * 2), "3 labels"),
        (lambda: metrics.agreement([[1.0, 2.0]], [[1.0, 2.0, 3.0]]), "same shape"),
        (lambda: metrics.reliability_bins([0], [[1.0, 2.0]], num_bins=0), "`num_bins`"),
    ],
)
def test_bad_inputs_name_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_per_class_accuracy_and_disagreement_by_hand():
    y = np.array([0, 0, 1, 1, 1, 2])
    eye = np.eye(4) * 5.0
    teacher = eye[[0, 0, 1, 1, 2, 2]]
    student = eye[[0, 1, 1, 2, 2, 2]]
    np.testing.assert_allclose(
        metrics.per_class_accuracy(y, teacher), [1.0, 2 / 3, 1.0, np.nan]
    )
    np.testing.assert_allclose(metrics.per_class_accuracy(y, student), [0.5, 1 / 3, 1.0, np.nan])
    counts, rates = metrics.per_class_disagreement(y, teacher, student)
    assert counts.tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(rates, [0.5, 1 / 3, 0.0, np.nan])


def test_confident_disagreements_are_sorted_by_student_confidence():
    y = np.array([0, 1, 2, 0])
    teacher = np.array([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0], [3.0, 0, 0]])
    student = np.array([[0, 1.0, 0], [0, 3.0, 0], [4.0, 0, 0], [3.0, 0, 0]])
    items = metrics.confident_disagreements(y, teacher, student)
    assert [i["index"] for i in items] == [2, 0]
    assert items[0] == pytest.approx({
        "index": 2, "label": 2, "teacher": 2, "student": 0,
        "teacher_confidence": float(metrics.softmax(teacher[2:3]).max()),
        "student_confidence": float(metrics.softmax(student[2:3]).max()),
    })
    assert metrics.confident_disagreements(y, teacher, student, limit=1)[0]["index"] == 2
