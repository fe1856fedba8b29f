"""On-policy distillation (GKD): the student writes continuations, the teacher scores them.

With probability `on_policy_fraction` (the paper's lambda) per batch, each
sequence's continuation is sampled from the current student; the teacher
scores the whole sequence in one forward pass and the divergence is taken over
the generated tokens only. Other batches train on the dataset's continuation
(off-policy token distillation); `on_policy_fraction=0` is exactly the
`Distiller` on the same batches.

Design: the sampling runs on the data side, between steps, not inside the
training step. The step stays the `Distiller`'s (Keras's own step on the loss
of `compute_loss`), which JAX compiles as a pure function: generation inside
it would need keras-hub's sampler state threaded through the step and a
`cond` around a `while_loop` that reverse-mode differentiation cannot cross.
Outside, the sample is outside the gradient by construction, keras-hub's own
compiled `generate` does the work on every backend, and a batch that is not
on-policy costs nothing. The batches are served by a `tf.data.Dataset`
without prefetching, so each is sampled when its step asks for it; on JAX,
whose trainer keeps the weights off the model during an epoch, a callback
syncs them back before every step (`Callback.model` does it). On JAX with an
accelerator Keras moves one batch ahead to the device, so the sample comes
from the student one step earlier.

Reference:
    Agarwal, Vieillard, Zhou, Stanczyk, Ramos Garea, Geist and Bachem,
    "On-Policy Distillation of Language Models: Learning from Self-Generated
    Mistakes", ICLR 2024.
"""

import keras

from keras_distill.api_export import register
from keras_distill.core import argument_validation as validation
from keras_distill.distiller.distiller import Distiller
from keras_distill.language import student_samples
from keras_distill.lm_hooks import causal_lm
from keras_distill.lm_hooks import hooks
from keras_distill.lm_hooks import text_inputs


@register
class OnPolicyDistiller(Distiller):
    """A `Distiller` that trains on the student's own continuations with probability lambda.

    Compile it as a `Distiller`; the distillation loss is the divergence taken
    per generated token, e.g. `keras_distill.losses.GeneralizedJSD(beta=0.5)`
    (GKD's default), `"reverse_kl"` or `"forward_kl"`, usually with
    `alpha=0` (no hard-label term on the student's own samples). `fit` takes
    raw text, a keras-hub preprocessor's `(x, y, sample_weight)` arrays, or a
    `tf.data.Dataset` of such batches. Each epoch's logs hold
    `generation_seconds` (time spent sampling) and `on_policy_batches`.

    Args:
        teacher: A keras-hub `CausalLM`.
        student: A keras-hub `CausalLM` with the teacher's tokenizer.
        on_policy_fraction: Probability (lambda) that a batch's continuations
            are sampled from the student, in `[0, 1]`. Defaults to `0.5`.
        prompt_length: Leading tokens of every sequence (the start token
            included) that form its prompt and carry no loss, an int >= 1.
            Defaults to `1` (the start token: unconditional samples).
        max_new_tokens: Most tokens the student writes after its prompt, an
            int >= 1 (also bounded by the preprocessor's sequence length).
            Defaults to `32`.
        sampler: keras-hub sampler name (`"random"`, `"top_k"`, `"top_p"`,
            `"greedy"`) or config dict. Defaults to `"random"`.
        sampling_temperature: Temperature of the student's samples, > 0.
            Defaults to `0.9`.
        seed: Seed of the per-batch draw and of the sampler. Defaults to `None`.
        **kwargs: Passed to `Distiller`.

    Example:

    ```python
    distiller = keras_distill.language.OnPolicyDistiller(
        teacher, student, on_policy_fraction=0.5, max_new_tokens=16)
    distiller.compile(optimizer="adam", alpha=0.0,
                      distillation_loss_fn=keras_distill.losses.GeneralizedJSD(beta=0.5))
    distiller.fit(texts, batch_size=8, epochs=3)
    ```

    Reference:
        Agarwal et al., "On-Policy Distillation of Language Models: Learning
        from Self-Generated Mistakes", ICLR 2024.
    """

    def __init__(
        self,
        teacher,
        student,
        on_policy_fraction=0.5,
        prompt_length=1,
        max_new_tokens=32,
        sampler="random",
        sampling_temperature=0.9,
        seed=None,
        **kwargs,
    ):
        if not (causal_lm.is_causal_lm(teacher) and causal_lm.is_causal_lm(student)):
            raise TypeError(
                "`OnPolicyDistiller` needs keras-hub `CausalLM` teacher and student (the "
                f"student generates). Received a {type(teacher).__name__} teacher and a "
                f"{type(student).__name__} student."
            )
        self.on_policy_fraction = validation.check_fraction(
            on_policy_fraction, "on_policy_fraction",
            "the probability that a batch is sampled from the student",
        )
        self.prompt_length = _positive_int(prompt_length, "prompt_length")
        self.max_new_tokens = _positive_int(max_new_tokens, "max_new_tokens")
        self.sampling_temperature = validation.check_temperature(
            sampling_temperature, "sampling_temperature"
        )
        self.sampler = sampler
        super().__init__(teacher, student, seed=seed, **kwargs)
        self.samples = student_samples.StudentSamples(
            student, self.on_policy_fraction, self.prompt_length, self.max_new_tokens,
            student_samples.build_sampler(sampler, self.sampling_temperature, seed), seed=seed,
        )

    def fit(self, *args, **kwargs):
        """`Distiller.fit` on batches whose continuations the student samples with probability lambda."""
        if (keras.config.backend() == "jax" and self.on_policy_fraction > 0
                and (self.steps_per_execution or 1) > 1):
            # The JAX trainer hands the weights to the step and frees them, so
            # a second batch of one execution could not be sampled.
            raise ValueError(
                "On JAX, on-policy distillation samples between single steps: compile "
                f"with `steps_per_execution=1` (received {self.steps_per_execution})."
            )
        args, kwargs = hooks.fit_arguments(self, args, kwargs)
        arguments = text_inputs.bind_fit_arguments(args, kwargs)
        batches = student_samples.token_batches(
            arguments.pop("x", None), arguments.pop("y", None),
            arguments.pop("sample_weight", None), arguments.pop("batch_size", None),
            arguments.get("shuffle", True),
        )
        arguments["x"] = student_samples.dataset(self.samples, batches)
        arguments["shuffle"] = False
        callbacks = list(arguments.get("callbacks") or [])
        arguments["callbacks"] = [*callbacks, GenerationLog(self.samples)]
        return super().fit(**arguments)

    def get_config(self):
        config = super().get_config()
        config.update(
            on_policy_fraction=self.on_policy_fraction,
            prompt_length=self.prompt_length,
            max_new_tokens=self.max_new_tokens,
            sampler=self.sampler,
            sampling_temperature=self.sampling_temperature,
        )
        return config


class GenerationLog(keras.callbacks.Callback):
    """Writes each epoch's sampling cost into the logs; on JAX, syncs weights before sampling."""

    def __init__(self, samples):
        super().__init__()
        self.samples = samples

    def on_epoch_begin(self, epoch, logs=None):
        self.samples.reset()

    def on_train_batch_begin(self, batch, logs=None):
        if keras.config.backend() == "jax" and self.samples.on_policy_fraction > 0:
            # Reading `self.model` puts the JAX trainer's current state back on
            # the variables; the trainer detaches them again before the step.
            self.model  # noqa: B018
            self.samples.capture_weights()

    def on_epoch_end(self, epoch, logs=None):
        self.samples.release_weights()
        if logs is not None:
            logs["generation_seconds"] = self.samples.seconds
            logs["on_policy_batches"] = self.samples.batches


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}.")
    return value
