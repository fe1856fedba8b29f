"""Metrics of a distillation run, computed in NumPy from logits and labels.

Every function here is pure (arrays in, numbers out), so the report's numbers
can be checked by hand on small inputs.
"""

import numpy as np


def _logits(logits, argument):
    logits = np.asarray(logits, dtype="float64")
    if logits.ndim != 2 or logits.shape[-1] < 2:
        raise ValueError(
            f"`{argument}` must be class scores of shape (num_samples, num_classes) with "
            f"num_classes >= 2. Received shape {logits.shape}."
        )
    return logits


def _labels(y_true, num_samples):
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[-1] > 1:
        y_true = np.argmax(y_true, axis=-1)
    y_true = y_true.reshape(-1).astype("int64")
    if len(y_true) != num_samples:
        raise ValueError(
            f"`y_true` has {len(y_true)} labels but the predictions cover {num_samples} "
            "samples."
        )
    return y_true


def softmax(logits, temperature=1.0):
    """Row-wise softmax of `logits / temperature`, in float64."""
    z = np.asarray(logits, dtype="float64") / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(logits, temperature=1.0):
    """Row-wise log-softmax of `logits / temperature`, in float64."""
    z = np.asarray(logits, dtype="float64") / temperature
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def error_count(y_true, logits):
    """Number of samples whose top-1 class is not the label."""
    logits = _logits(logits, "logits")
    y_true = _labels(y_true, len(logits))
    return int(np.sum(np.argmax(logits, axis=-1) != y_true))


def accuracy(y_true, logits):
    """Top-1 accuracy in [0, 1]."""
    logits = _logits(logits, "logits")
    return 1.0 - error_count(y_true, logits) / len(logits)


def gap_closed(teacher_errors, student_errors, distilled_errors):
    """Share of the teacher-student error gap that distillation closed.

    `(student_errors - distilled_errors) / (student_errors - teacher_errors)`:
    1.0 when the distilled student matches the teacher, 0.0 when it is no
    better than the student trained alone, negative when it is worse.

    Args:
        teacher_errors: Test errors of the teacher.
        student_errors: Test errors of the student trained alone.
        distilled_errors: Test errors of the distilled student.

    Returns:
        A float, or `None` when the teacher is not better than the student
        alone (there is no gap to close).

    Example:

    ```python
    keras_distill.report.gap_closed(teacher_errors=8, student_errors=14, distilled_errors=9)  # 0.833
    ```
    """
    gap = student_errors - teacher_errors
    if gap <= 0:
        return None
    return (student_errors - distilled_errors) / gap


def agreement(logits_a, logits_b):
    """Fraction of samples on which both models predict the same top-1 class.

    Args:
        logits_a: `(samples, classes)` outputs of one model.
        logits_b: Outputs of the other model, same shape.

    Returns:
        A float in [0, 1].

    Example:

    ```python
    keras_distill.report.agreement(teacher.predict(x_test), student.predict(x_test))
    ```
    """
    logits_a = _logits(logits_a, "logits_a")
    logits_b = _logits(logits_b, "logits_b")
    if logits_a.shape != logits_b.shape:
        raise ValueError(
            f"`logits_a` {logits_a.shape} and `logits_b` {logits_b.shape} must have the "
            "same shape."
        )
    return float(np.mean(np.argmax(logits_a, -1) == np.argmax(logits_b, -1)))


def mean_kl(teacher_logits, student_logits, temperature=1.0):
    """Mean over samples of KL(softmax(teacher / T) || softmax(student / T)), in nats.

    Args:
        teacher_logits: `(samples, classes)` teacher logits.
        student_logits: Student logits, same shape.
        temperature: Softening temperature. Defaults to `1.0`.

    Returns:
        A float, computed in float64.

    Example:

    ```python
    keras_distill.report.mean_kl(teacher.predict(x_test), student.predict(x_test), temperature=4.0)
    ```
    """
    teacher_logits = _logits(teacher_logits, "teacher_logits")
    student_logits = _logits(student_logits, "student_logits")
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"`teacher_logits` {teacher_logits.shape} and `student_logits` "
            f"{student_logits.shape} must have the same shape."
        )
    log_p = log_softmax(teacher_logits, temperature)
    log_q = log_softmax(student_logits, temperature)
    return float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))


def reliability_bins(y_true, logits, num_bins=15):
    """Confidence, accuracy and count of the top-1 predictions in equal-width bins.

    Bin `i` holds the samples whose top-1 probability lies in
    `(i / num_bins, (i + 1) / num_bins]`.

    Returns:
        A dict of NumPy arrays of length `num_bins`: `confidence` (mean
        top-1 probability, 0 for empty bins), `accuracy` (0 for empty bins)
        and `count`.
    """
    if isinstance(num_bins, bool) or not isinstance(num_bins, int) or num_bins < 1:
        raise ValueError(f"`num_bins` must be a positive integer. Received: num_bins={num_bins!r}.")
    probs = softmax(_logits(logits, "logits"))
    y_true = _labels(y_true, len(probs))
    confidence = probs.max(axis=-1)
    correct = (probs.argmax(axis=-1) == y_true).astype("float64")
    index = np.clip(np.ceil(confidence * num_bins).astype("int64") - 1, 0, num_bins - 1)
    count = np.bincount(index, minlength=num_bins)
    safe = np.maximum(count, 1)
    return {
        "confidence": np.bincount(index, weights=confidence, minlength=num_bins) / safe,
        "accuracy": np.bincount(index, weights=correct, minlength=num_bins) / safe,
        "count": count,
    }


def expected_calibration_error(y_true, logits, num_bins=15):
    """Expected calibration error of the top-1 predictions.

    `sum_i (n_i / n) * |accuracy_i - confidence_i|` over `num_bins`
    equal-width confidence bins (see `reliability_bins`).

    Args:
        y_true: Integer labels, `(samples,)`.
        logits: `(samples, classes)` logits.
        num_bins: Number of confidence bins. Defaults to `15`.

    Returns:
        A float in [0, 1].

    Example:

    ```python
    ece = keras_distill.report.expected_calibration_error(y_test, student.predict(x_test))
    ```

    Reference:
        Guo, Pleiss, Sun and Weinberger, "On Calibration of Modern Neural
        Networks", ICML 2017.
    """
    bins = reliability_bins(y_true, logits, num_bins)
    weights = bins["count"] / bins["count"].sum()
    return float(np.sum(weights * np.abs(bins["accuracy"] - bins["confidence"])))


def confusion_matrix(y_true, logits, num_classes=None):
    """`matrix[i, j]` counts samples of class `i` predicted as class `j`.

    Args:
        y_true: Integer labels, `(samples,)`.
        logits: `(samples, classes)` logits (or probabilities).
        num_classes: Number of classes. Defaults to the logits' last axis.

    Returns:
        An int `(num_classes, num_classes)` NumPy array.

    Example:

    ```python
    matrix = keras_distill.report.confusion_matrix(y_test, student.predict(x_test))
    ```
    """
    logits = _logits(logits, "logits")
    y_true = _labels(y_true, len(logits))
    num_classes = num_classes or logits.shape[-1]
    predicted = np.argmax(logits, axis=-1)
    return np.bincount(
        y_true * num_classes + predicted, minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)


def per_class_accuracy(y_true, logits, num_classes=None):
    """Accuracy on the samples of each true class; `nan` for a class with none."""
    logits = _logits(logits, "logits")
    y_true = _labels(y_true, len(logits))
    num_classes = num_classes or logits.shape[-1]
    correct = np.argmax(logits, axis=-1) == y_true
    counts = np.bincount(y_true, minlength=num_classes).astype("float64")
    hits = np.bincount(y_true, weights=correct, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / counts, np.nan)


def per_class_disagreement(y_true, teacher_logits, student_logits, num_classes=None):
    """Per true class: how many samples the student labels differently from the teacher.

    Returns:
        `(counts, rates)`: int counts and the share of the class's samples
        (`nan` for a class with none).
    """
    teacher_logits = _logits(teacher_logits, "teacher_logits")
    student_logits = _logits(student_logits, "student_logits")
    y_true = _labels(y_true, len(teacher_logits))
    num_classes = num_classes or teacher_logits.shape[-1]
    differ = np.argmax(teacher_logits, -1) != np.argmax(student_logits, -1)
    counts = np.bincount(y_true, weights=differ, minlength=num_classes).astype("int64")
    totals = np.bincount(y_true, minlength=num_classes).astype("float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return counts, np.where(totals > 0, counts / totals, np.nan)


def confident_disagreements(y_true, teacher_logits, student_logits, limit=16):
    """The samples where student and teacher disagree, the student's most confident first.

    Returns:
        A list of at most `limit` dicts: `index`, `label`, `teacher` and
        `student` (predicted classes) and each one's softmax confidence.
    """
    teacher_logits = _logits(teacher_logits, "teacher_logits")
    student_logits = _logits(student_logits, "student_logits")
    y_true = _labels(y_true, len(teacher_logits))
    p_teacher, p_student = softmax(teacher_logits), softmax(student_logits)
    teacher_class, student_class = p_teacher.argmax(-1), p_student.argmax(-1)
    indices = np.flatnonzero(teacher_class != student_class)
    confidence = p_student.max(-1)[indices]
    order = indices[np.argsort(-confidence, kind="stable")][:limit]
    return [
        {
            "index": int(i),
            "label": int(y_true[i]),
            "teacher": int(teacher_class[i]),
            "student": int(student_class[i]),
            "teacher_confidence": float(p_teacher[i].max()),
            "student_confidence": float(p_student[i].max()),
        }
        for i in order
    ]
