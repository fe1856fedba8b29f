"""What the text demo measures: held-out perplexity, agreement with the teacher, generations.

All measures read token ids from the teacher's preprocessor (teacher and
student share one tokenizer) and count only the positions whose next token is
real text (the preprocessor's `sample_weight`): neither padding nor the
position after the end token.
"""

import keras
import numpy as np

BATCH_SIZE = 128


def tokens(model, texts):
    """`(x, y, weights)` of `texts` through `model`'s preprocessor, as NumPy arrays."""
    x, y, weights = model.preprocessor(list(texts))
    x = {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}
    return x, keras.ops.convert_to_numpy(y), keras.ops.convert_to_numpy(weights).astype(bool)


def log_probabilities(model, x):
    """`model`'s next-token log-probabilities on token ids `x`, batch by batch."""
    size = len(x["token_ids"])
    return np.concatenate([
        keras.ops.convert_to_numpy(keras.ops.log_softmax(keras.ops.cast(
            model({key: value[start:start + BATCH_SIZE] for key, value in x.items()}),
            "float32"), axis=-1))
        for start in range(0, size, BATCH_SIZE)
    ])


def negative_log_likelihood(log_probs, labels, weights):
    """Mean negative log-likelihood (nats per token) of `labels` where `weights` is true."""
    picked = np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    return float(-picked[weights].mean())


def evaluate(models, texts):
    """Held-out perplexity of each model and its next-token agreement with the first.

    Args:
        models: A dict `{name: CausalLM}`; the first is the teacher.
        texts: Held-out strings.

    Returns:
        `{name: {"perplexity", "nll", "agreement"}}`; `agreement` is the
        share of positions where the model's most likely next token is the
        teacher's (1 for the teacher itself).
    """
    names = list(models)
    x, y, weights = tokens(models[names[0]], texts)
    results, teacher_choice = {}, None
    for name in names:
        log_probs = log_probabilities(models[name], x)
        choice = log_probs.argmax(-1)
        if teacher_choice is None:
            teacher_choice = choice
        nll = negative_log_likelihood(log_probs, y, weights)
        results[name] = {
            "perplexity": float(np.exp(nll)),
            "nll": nll,
            "agreement": float((choice == teacher_choice)[weights].mean()),
        }
    return results


def generate(model, prompts, max_length, sampler="greedy", seed=None):
    """`model`'s continuations of `prompts` (strings, prompt included).

    keras-hub's `generate` runs the model's `sampler`, which `compile` sets:
    the sampler is swapped in for this call only, so the model's own stays.
    """
    import keras_hub

    built = keras_hub.samplers.get(sampler)
    if seed is not None and hasattr(built, "seed"):
        config = built.get_config()
        config["seed"] = seed
        built = type(built).from_config(config)
    own = model.sampler, model.generate_function
    model.sampler, model.generate_function = built, None
    try:
        return [str(text) for text in model.generate(list(prompts), max_length=max_length)]
    finally:
        model.sampler, model.generate_function = own


def continuation_nll(teacher, prompts, texts, sequence_length):
    """The teacher's mean negative log-likelihood per token of the continuations in `texts`.

    Each text is a prompt of `prompts` followed by a model's continuation;
    only the continuation's tokens count. Lower is better: the teacher finds
    the continuation likely. As in Agarwal et al. (2024) and Gu et al.
    (2024), the teacher judges the student's own samples.
    """
    preprocess = teacher.preprocessor.generate_preprocess
    prompt_ids = preprocess(list(prompts), sequence_length=sequence_length)
    prompt_lengths = keras.ops.convert_to_numpy(prompt_ids["padding_mask"]).sum(-1)
    x = preprocess(list(texts), sequence_length=sequence_length)
    x = {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}
    ids, mask = x["token_ids"], x["padding_mask"].astype(bool)
    labels = np.concatenate([ids[:, 1:], np.zeros_like(ids[:, :1])], axis=1)
    positions = np.arange(ids.shape[1])[None, :]
    # Position t predicts token t + 1, a continuation token from t + 1 = prompt length on.
    weights = np.concatenate([mask[:, 1:], np.zeros_like(mask[:, :1])], axis=1)
    weights &= positions + 1 >= prompt_lengths[:, None]
    if not weights.any():
        return float("nan")
    return negative_log_likelihood(log_probabilities(teacher, x), labels, weights)
