"""The data side of on-policy distillation: batches whose continuations the student writes.

`StudentSamples` reads token batches `(x, y, sample_weight)` (a keras-hub
preprocessor's output) and, with probability `on_policy_fraction` per batch,
replaces each sequence's continuation by one the current student samples
from its prompt (the first `prompt_length` tokens) with keras-hub's compiled
`generate` and a keras-hub sampler. `sample_weight` then marks the generated
tokens only: prompt and padding carry no loss. The other batches keep their
dataset continuation, weighted the same way (prompt masked).

Generation runs here, between training steps and outside the gradient, on
every backend; `dataset` serves the batches through a `tf.data.Dataset` with
no prefetching, so a batch is sampled when the step that trains on it asks
for it, from the weights the previous step left.
"""

import time

import keras
import numpy as np

_SAMPLERS = ("greedy", "random", "top_k", "top_p")


def build_sampler(sampler, temperature, seed):
    """A keras-hub sampler from a name (`"random"`, ...) or a config dict, at `temperature`."""
    import keras_hub

    if isinstance(sampler, str) and sampler not in _SAMPLERS:
        raise ValueError(
            f"`sampler` must be one of {_SAMPLERS} or a keras-hub sampler config dict "
            f"(e.g. {{'class_name': 'top_k', 'config': {{'k': 20}}}}). Received: sampler={sampler!r}."
        )
    if not isinstance(sampler, (str, dict)):
        raise TypeError(
            "`sampler` must be a keras-hub sampler name or config dict, so that the "
            f"Distiller's config can record it. Received: sampler={sampler!r}."
        )
    built = keras_hub.samplers.get(sampler)
    config = built.get_config()
    config["temperature"] = temperature
    if "seed" in config and config["seed"] is None:
        config["seed"] = seed
    return type(built).from_config(config)


class StudentSamples:
    """Draws the on-policy batches and keeps their cost.

    Args:
        student: The keras-hub `CausalLM` student.
        on_policy_fraction: Probability that a batch is sampled from the student.
        prompt_length: Leading tokens of each sequence that form its prompt.
        max_new_tokens: Most tokens the student writes after a prompt.
        sampler: A keras-hub sampler instance.
        seed: Seed of the per-batch draw.
    """

    def __init__(self, student, on_policy_fraction, prompt_length, max_new_tokens, sampler,
                 seed=None):
        self.student = student
        self.on_policy_fraction = on_policy_fraction
        self.prompt_length = prompt_length
        self.max_new_tokens = max_new_tokens
        self.sampler = sampler
        self._draws = np.random.default_rng(seed)
        self._generate_function = None
        self._weights = None
        tokenizer = getattr(getattr(student, "preprocessor", None), "tokenizer", None)
        stop = [getattr(tokenizer, name, None) for name in ("end_token_id", "end_token2_id")]
        self.stop_token_ids = tuple(int(t) for t in stop if t is not None) or None
        self.pad_token_id = int(getattr(tokenizer, "pad_token_id", None) or 0)
        self.reset()

    def reset(self):
        """Starts a new count of on-policy batches and generation time (an epoch)."""
        self.batches = 0
        self.seconds = 0.0

    def capture_weights(self):
        """Keeps references to the student's current weights, for the next samples.

        During an epoch the JAX trainer holds the weights itself and detaches
        them from the variables before each step; `GenerationLog` calls this
        before each step, once `Callback.model` has put them back.
        """
        self._weights = [(v, v.value) for v in self.student.variables]

    def release_weights(self):
        """Samples from the student's variables again (after the epoch)."""
        self._weights = None

    def batch(self, x, y, sample_weight):
        """One training batch: the student's continuations with probability `on_policy_fraction`."""
        if self.on_policy_fraction > 0 and self._draws.random() < self.on_policy_fraction:
            start = time.perf_counter()
            batch = self.sample(x, sample_weight)
            self.seconds += time.perf_counter() - start
            self.batches += 1
            return batch
        return x, y, continuation_weights(sample_weight, self.prompt_length)

    def sample(self, x, sample_weight):
        """`(x, y, sample_weight)` with the student's continuations of the batch's prompts."""
        token_ids = np.asarray(x["token_ids"])
        padding_mask = np.asarray(x["padding_mask"]).astype(bool)
        batch_size, length = token_ids.shape
        width = min(length, self.prompt_length + self.max_new_tokens)
        prompt_mask = padding_mask[:, :width] & (np.arange(width) < self.prompt_length)
        generated = self._generate({
            "token_ids": np.where(prompt_mask, token_ids[:, :width], self.pad_token_id),
            "padding_mask": prompt_mask,
        })
        written = np.zeros((batch_size, length), bool)
        written[:, :width] = keras.ops.convert_to_numpy(generated["padding_mask"]).astype(bool)
        new_ids = np.full((batch_size, length), self.pad_token_id, token_ids.dtype)
        new_ids[:, :width] = keras.ops.convert_to_numpy(generated["token_ids"])
        new_ids = np.where(written, new_ids, self.pad_token_id)
        is_new = written.copy()
        is_new[:, :width] &= ~prompt_mask
        # Position t predicts token t + 1: it carries loss where token t + 1 is new.
        labels = np.concatenate([new_ids[:, 1:], np.full((batch_size, 1), self.pad_token_id,
                                                         new_ids.dtype)], axis=1)
        weights = np.concatenate([is_new[:, 1:], np.zeros((batch_size, 1), bool)], axis=1)
        weight_dtype = np.asarray(sample_weight).dtype
        inputs = {"token_ids": new_ids, "padding_mask": written.astype(padding_mask.dtype)}
        return inputs, labels, weights.astype(weight_dtype)

    def _generate(self, inputs):
        # keras-hub compiles `generate_step` around `student.sampler`, which it
        # reads when called: the student's own sampler is swapped out for the
        # duration of the call only.
        student = self.student
        own = student.sampler, student.generate_function
        student.sampler, student.generate_function = self.sampler, self._generate_function
        try:
            generate = student.make_generate_function()
            self._generate_function = generate
            if self._weights is None:
                return generate(inputs, stop_token_ids=self.stop_token_ids)
            with keras.StatelessScope(state_mapping=self._weights) as scope:
                generated = generate(inputs, stop_token_ids=self.stop_token_ids)
            # The sampler's seed moves on outside the scope.
            for variable in self.sampler.variables:
                value = scope.get_current_value(variable)
                if value is not None:
                    variable.assign(value)
            return generated
        finally:
            student.sampler, student.generate_function = own


def continuation_weights(sample_weight, prompt_length):
    """`sample_weight` with the positions that predict prompt tokens set to 0."""
    weights = np.array(sample_weight, copy=True)
    # Position t predicts token t + 1, which is in the prompt while t + 1 < prompt_length.
    weights[:, : max(prompt_length - 1, 0)] = 0
    return weights


def token_batches(x, y, sample_weight, batch_size, shuffle):
    """A `tf.data.Dataset` of `(x, y, sample_weight)` batches from arrays of token ids."""
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        return x
    if y is None or sample_weight is None:
        raise ValueError(
            "On-policy distillation reads token ids with their labels and weights: pass "
            "`x = {'token_ids', 'padding_mask'}`, `y` and `sample_weight` (a keras-hub "
            "preprocessor's output), raw text, or a tf.data.Dataset of such batches."
        )
    dataset = tf.data.Dataset.from_tensor_slices((x, y, sample_weight))
    if shuffle:
        dataset = dataset.shuffle(len(y), reshuffle_each_iteration=True)
    return dataset.batch(batch_size or 32)


def dataset(samples, batches):
    """`batches` (a `tf.data.Dataset`) with each batch passed through `samples.batch`."""
    import tensorflow as tf

    spec = batches.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 3):
        raise ValueError(
            "On-policy distillation needs batches of `(x, y, sample_weight)` (the "
            f"preprocessor's output); the dataset yields {spec}."
        )

    def generator():
        for x, y, weights in batches.as_numpy_iterator():
            yield samples.batch(x, y, weights)

    served = tf.data.Dataset.from_generator(generator, output_signature=spec)
    if batches.cardinality() >= 0:
        served = served.apply(tf.data.experimental.assert_cardinality(batches.cardinality()))
    options = tf.data.Options()
    # Prefetching would sample a batch before the previous step has updated the student.
    options.autotune.enabled = False
    options.experimental_optimization.inject_prefetch = False
    return served.with_options(options)
