"""A teacher from a scikit-learn-style estimator: log-probabilities or decision scores as logits."""

import numpy as np

from keras_distill.api_export import register
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.source_digest import object_digest

_METHODS = ("auto", "predict_proba", "decision_function")
# Smallest normal float32: log() of it is -87.3, finite.
_FLOOR = float(np.finfo(np.float32).tiny)


@register
class EstimatorTeacher(ForeignTeacher):
    """A fitted scikit-learn-style classifier as a teacher (gradient boosting, random forest, ...).

    With `predict_proba` its logits are the log-probabilities (a softmax of
    them gives the estimator's probabilities back; zero probabilities are
    clipped to a finite floor). With `decision_function` they are the
    decision scores (a binary classifier's one score `s` becomes `[0, s]`).
    The caches fingerprint it by the pickled estimator: its parameters and
    everything it learned.

    Args:
        estimator: A fitted classifier with `predict_proba` or `decision_function`.
        input_shape: Shape of one sample. Defaults to `None`
            (`(estimator.n_features_in_,)`).
        method: `"predict_proba"`, `"decision_function"`, or `"auto"` (the
            first of them the estimator has). Defaults to `"auto"`.
        name: Defaults to `"estimator_teacher"`.

    Example:

    ```python
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=20, random_state=0).fit(x_train, y_train)
    teacher = keras_distill.teachers.EstimatorTeacher(forest)
    cache = keras_distill.TeacherCache.compute(teacher, x_train)
    ```
    """

    def __init__(self, estimator, input_shape=None, method="auto", name="estimator_teacher"):
        if method not in _METHODS:
            raise ValueError(f"`method` must be one of {_METHODS}. Received: method={method!r}")
        if method == "auto":
            method = next((m for m in _METHODS[1:] if hasattr(estimator, m)), None)
        if method is None or not hasattr(estimator, method):
            raise TypeError(
                f"`estimator` ({type(estimator).__name__}) has no `{method or 'predict_proba'}`; "
                "a teacher estimator is a fitted classifier with `predict_proba` or "
                "`decision_function`."
            )
        if input_shape is None:
            if not hasattr(estimator, "n_features_in_"):
                raise ValueError(
                    f"`estimator` ({type(estimator).__name__}) is not fitted or does not say its "
                    "number of features (`n_features_in_`); fit it, or pass `input_shape=`."
                )
            input_shape = (int(estimator.n_features_in_),)
        super().__init__(
            input_shape, source_fingerprint=f"estimator:{method}:{object_digest(estimator)}",
            name=name,
        )
        self.estimator = estimator
        self.method = method
        self.check_outputs()

    def run(self, inputs):
        outputs = np.asarray(getattr(self.estimator, self.method)(inputs), "float32")
        if self.method == "predict_proba":
            return np.log(np.clip(outputs, _FLOOR, 1.0))
        if outputs.ndim == 1:
            return np.stack([np.zeros_like(outputs), outputs], axis=-1)
        return outputs
