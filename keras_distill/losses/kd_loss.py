"""Hinton et al. (2015) knowledge-distillation loss: KL divergence of softened outputs."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import ActivationLoss
from keras_distill.losses.distillation_loss import resolve_activation
from keras_distill.losses.divergences import softmax_kl
from keras_distill.losses.sequence_chunks import check_sequence_chunks
from keras_distill.losses.top_k import check_tail
from keras_distill.losses.top_k import top_k_kl


def standardize_logits(logits, epsilon=1e-7):
    """Z-scores logits over the last axis: `(z - mean(z)) / (std(z) + epsilon)`.

    The population standard deviation is used. Softmax is invariant to the
    shift; the scale removes the teacher's and student's own logit ranges, so
    the student matches the teacher's ranking of classes rather than its
    exact logit magnitudes (Sun et al. 2024).

    Args:
        logits: Logits, `(..., classes)`.
        epsilon: Added to the standard deviation. Defaults to `1e-7`.

    Example:

    ```python
    z = keras_distill.losses.standardize_logits(logits)  # zero mean, unit spread per row
    ```
    """
    logits = ops.cast(logits, "float32")
    centered = logits - ops.mean(logits, axis=-1, keepdims=True)
    std = ops.sqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True))
    return centered / (std + epsilon)


def kd_loss(
    teacher_logits, student_logits, temperature=1.0, activation="auto", standardize=False
):
    """Per-sample KL(teacher || student) of temperature-softened outputs, times T².

    For `activation="softmax"` this is
    `T² * sum_k p_k (log p_k - log q_k)` with `p = softmax(t / T)` and
    `q = softmax(s / T)`. For `"sigmoid"` (binary and multi-label tasks) each
    unit is a Bernoulli distribution and the per-unit KL is averaged over the
    units. The T² factor keeps gradient magnitudes comparable across
    temperatures. Computed in float32 from log-probabilities, so it never
    produces NaN or inf for finite logits.

    Args:
        teacher_logits: Teacher logits, shape `(batch, ..., units)`.
        student_logits: Student logits, same shape.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"` (sigmoid for one
            unit, else softmax). Defaults to `"auto"`.
        standardize: Z-score both logit vectors before softening (logit
            standardization, Sun et al. 2024; softmax only). Defaults to
            `False`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.kd_loss(teacher_logits, student_logits, temperature=4.0)  # (batch,)
    ```

    References:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015.
        Sun, Ren, Li, Wang and Cao, "Logit Standardization in Knowledge
        Distillation", CVPR 2024.
    """
    teacher_logits = ops.cast(teacher_logits, "float32")
    student_logits = ops.cast(student_logits, "float32")
    if standardize:
        if resolve_activation(activation, teacher_logits) != "softmax":
            raise ValueError(
                "`standardize=True` applies to softmax outputs (z-scores over the "
                "classes); a sigmoid unit has no class axis to standardize over."
            )
        teacher_logits = standardize_logits(teacher_logits)
        student_logits = standardize_logits(student_logits)
    temperature = ops.cast(temperature, "float32")
    t = teacher_logits / temperature
    s = student_logits / temperature
    activation = resolve_activation(activation, t)
    if activation == "softmax":
        kl = softmax_kl(t, s)
    else:
        # A unit with logit z is a two-class softmax over logits (z, 0).
        zeros = ops.zeros_like(t)
        kl = softmax_kl(ops.stack([t, zeros], axis=-1), ops.stack([s, zeros], axis=-1))
        kl = ops.mean(kl, axis=-1)
    return kl * ops.square(temperature)


@register
class KDLoss(ActivationLoss):
    """Hinton knowledge-distillation loss, `T² * KL(softmax(t/T) || softmax(s/T))`.

    The temperature is not an argument of the loss: the `Distiller` passes its
    (schedulable) temperature on every step. Called directly, the loss takes
    `temperature=` as a keyword.

    It also reads a top-k `TeacherCache` (the teacher's k most likely ids,
    their log-probabilities and a tail bucket), comparing the `k + 1`
    buckets without expanding them to the vocabulary
    (`keras_distill.losses.top_k_kl`); `top_k_tail` says how the teacher's
    tail mass is compared (one bucket, spread evenly, or a mixture).

    With `standardize=True` both logit vectors are z-scored over the classes
    first (logit standardization, Sun et al. 2024): the student no longer has
    to match the teacher's logit scale, only its relative confidences. Use it
    when the student is much smaller than the teacher (its logits cannot reach
    the teacher's range) or the teacher is very confident; temperatures of
    about 2-5 suit standardized logits (their spread is 1).

    Args:
        activation: `"softmax"` (multi-class), `"sigmoid"` (binary and
            multi-label, per-unit KL averaged over units) or `"auto"` (the
            teacher's output activation when the `Distiller` detects one, else
            sigmoid for one unit and softmax otherwise). Defaults to `"auto"`.
        standardize: Z-score teacher and student logits before the softmax.
            Defaults to `False`.
        top_k_tail: With a top-k cache: `"bucket"`, `"spread"` or the
            spread tail's weight in [0, 1] (see `top_k_kl`). Defaults to
            `"bucket"`.
        top_k_prior: With a spread tail: `None` (uniform) or one positive
            weight per id, such as the ids' training frequencies. Defaults
            to `None`.
        sequence_chunks: For `(batch, sequence, vocabulary)` outputs: in how
            many pieces of the sequence the loss is computed, each
            rematerialised in the backward pass (bounded memory, same
            values; see `keras_distill.losses.sequence_chunks`): an int,
            `"auto"` (chunks of about 8 MiB of logits) or `None` (the whole
            sequence at once). It lowers the step's peak on JAX (online
            2.6x -> 2.0x the plain fine-tune at vocabulary 32,000), not on
            TensorFlow (benchmarks/results/lm_memory.md). Defaults to `None`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"kd_loss"`.

    Example:

    ```python
    loss = keras_distill.losses.KDLoss()
    value = loss(teacher_logits, student_logits, temperature=4.0)
    ```

    References:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015.
        Sun, Ren, Li, Wang and Cao, "Logit Standardization in Knowledge
        Distillation", CVPR 2024.
    """

    reads_top_k = True

    def __init__(
        self, activation="auto", standardize=False, reduction="sum_over_batch_size",
        name="kd_loss", top_k_tail="bucket", top_k_prior=None, sequence_chunks=None,
    ):
        super().__init__(activation=activation, reduction=reduction, name=name)
        self.sequence_chunks = check_sequence_chunks(sequence_chunks)
        self.standardize = bool(standardize)
        check_tail(top_k_tail)
        self.top_k_tail = top_k_tail
        self.top_k_prior = None if top_k_prior is None else [float(v) for v in top_k_prior]

    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return kd_loss(
            teacher_outputs,
            student_outputs,
            temperature,
            activation=self.resolve(teacher_outputs, activation),
            standardize=self.standardize,
        )

    def call_top_k(self, cached, student_outputs, temperature, activation=None):
        if self.standardize or self.resolve(student_outputs, activation) != "softmax":
            raise ValueError(
                "A top-k teacher cache holds softmax log-probabilities at k ids: KDLoss reads "
                "it with activation='softmax' and standardize=False only (standardizing needs "
                f"every logit). Received: activation={self.activation!r}, "
                f"standardize={self.standardize}; use a dense cache (`top_k=None`)."
            )
        return top_k_kl(cached, student_outputs, temperature, tail=self.top_k_tail,
                        prior=self.top_k_prior)

    def get_config(self):
        config = super().get_config()
        config.update({"standardize": self.standardize, "top_k_tail": self.top_k_tail,
                       "top_k_prior": self.top_k_prior, "sequence_chunks": self.sequence_chunks})
        return config
