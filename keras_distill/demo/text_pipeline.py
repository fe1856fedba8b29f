"""The text demo: a keras-hub teacher LM, the student alone and the distilled student, from scratch.

`keras-distill demo --dataset text` runs it offline: the corpus is Python's own
reference manual (`pydoc_data.topics`), the tokenizer is trained on it, and
the teacher and students are small Gemma-architecture models built from
configs. The student distils the teacher token by token (forward KL at T=1
plus the next-token loss); the report compares held-out perplexity,
next-token agreement with the teacher, the teacher's judgement of each
model's own samples, and greedy generations side by side.
"""

import json
import math
import os
import time

import keras

from keras_distill.core import atomic_files
from keras_distill.demo import progress
from keras_distill.demo import text_data
from keras_distill.demo import text_metrics
from keras_distill.demo import text_models
from keras_distill.demo import text_report
from keras_distill.demo.pipeline import _Phases
from keras_distill.distiller import Distiller

PHASES = (
    "Train the tokenizer",
    "Train the teacher",
    "Train the student alone",
    "Distil the student",
    "Measure and generate",
    "Write the report",
)
MODELS = ("teacher", "student alone", "distilled student")
# The generation score: each model continues held-out prompts greedily, and
# the teacher scores the continuations; the report shows the first few.
SCORE_PROMPTS = 64


def steps(num_samples, batch_size, epochs):
    return math.ceil(num_samples / batch_size) * epochs


def batches(texts, batch_size, seed):
    """`texts` in batches, shuffled anew every epoch from `seed`.

    keras-hub's `CausalLM.fit` batches in-memory text in order (Keras's
    `shuffle` does not reach it); every model here reads this dataset, so all
    see the same orders.
    """
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices(list(texts))
            .shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size))


def train_language_model(model, texts, recipe, epochs, seed, verbose, learning_rate=None):
    """Trains a keras-hub `CausalLM` on `texts` (next-token loss); returns its History."""
    model.compile(
        optimizer=text_models.optimizer(
            learning_rate or recipe.learning_rate, steps(len(texts), recipe.batch_size, epochs)
        ),
        loss=text_models.next_token_loss(),
        weighted_metrics=[],
    )
    return model.fit(batches(texts, recipe.batch_size, seed), epochs=epochs, shuffle=False,
                     **progress.fit_arguments(verbose, epochs))


def distil(teacher, student, texts, recipe, seed, verbose):
    """Token-level distillation of `student` from `teacher` on `texts`; returns the History."""
    distiller = Distiller(teacher, student)
    distiller.compile(
        optimizer=text_models.optimizer(
            recipe.learning_rate, steps(len(texts), recipe.batch_size, recipe.student_epochs)
        ),
        student_loss_fn=text_models.next_token_loss(),
        distillation_loss_fn="forward_kl",
        alpha=recipe.alpha,
        temperature=1.0,
    )
    return distiller.fit(batches(texts, recipe.batch_size, seed), epochs=recipe.student_epochs,
                         shuffle=False, **progress.fit_arguments(verbose, recipe.student_epochs))


def measure(models, corpus, recipe):
    """Held-out perplexity, agreement, and the teacher's score of each model's greedy continuations."""
    results = text_metrics.evaluate(models, corpus.test)
    prompts = text_data.prompts(corpus.test, recipe.prompt_words)
    prompts = prompts[:: max(1, len(prompts) // SCORE_PROMPTS)][:SCORE_PROMPTS]
    teacher = models[MODELS[0]]
    samples = {}
    for name, model in models.items():
        texts = text_metrics.generate(model, prompts, recipe.sequence_length)
        results[name]["teacher_nll_of_samples"] = text_metrics.continuation_nll(
            teacher, prompts, texts, recipe.sequence_length
        )
        results[name]["parameters"] = int(model.count_params())
        samples[name] = texts[: recipe.num_samples]
    return results, {"prompts": prompts[: recipe.num_samples], "continuations": samples}


def write_json(path, value):
    def write(staged):
        with open(staged, "w") as f:
            json.dump(value, f, indent=1)

    atomic_files.write_file(path, write)


def run(preset="quick", out="keras_distill_demo", seed=0, verbose=1, recipe=None):
    """Runs the text demo and writes `report.md` and `report.json` under `out`.

    Args:
        preset: `"quick"` or `"full"`. Defaults to `"quick"`.
        out: Output folder. Defaults to `"keras_distill_demo"`.
        seed: Seed of weights and shuffling. Defaults to `0`.
        verbose: 0 silent, 1 a line every tenth of the epochs, 2 one line
            per epoch. Defaults to `1`.
        recipe: A `text_models.TextRecipe` in place of the preset's (smaller
            runs, experiments). Defaults to `None`.

    Returns:
        The results dict (also in `report.json`).

    Raises:
        ImportError: keras-hub is not installed (the message names
            `pip install "keras-distill[hub]"`).
    """
    recipe = recipe or text_models.recipe(preset)
    text_models.require_keras_hub()
    started, cpu_started = time.perf_counter(), time.process_time()
    keras.utils.set_random_seed(seed)
    os.makedirs(out, exist_ok=True)
    phases = _Phases(verbose, PHASES)

    phases.start(PHASES[0])
    corpus = text_data.load(recipe.max_characters, max_train=recipe.max_train)
    tokenizer = text_models.tokenizer(
        text_data.sentence_piece_proto(corpus.train, recipe.vocabulary_size)
    )
    if verbose:
        print(f"  {len(corpus.train)} training and {len(corpus.test)} held-out pieces of "
              f"{corpus.source}; {recipe.vocabulary_size} tokens", flush=True)

    phases.start(PHASES[1])
    teacher = text_models.teacher(tokenizer, recipe)
    histories = {"teacher": train_language_model(
        teacher, corpus.train, recipe, recipe.teacher_epochs, seed, verbose)}

    phases.start(PHASES[2])
    student = text_models.student(tokenizer, recipe)
    alone = text_models.student(tokenizer, recipe, name="student_alone")
    alone.set_weights(student.get_weights())
    histories["student alone"] = train_language_model(
        alone, corpus.train, recipe, recipe.student_epochs, seed, verbose)

    phases.start(PHASES[3])
    histories["distillation"] = distil(teacher, student, corpus.train, recipe, seed, verbose)

    phases.start(PHASES[4])
    models = dict(zip(MODELS, (teacher, alone, student)))
    metrics, samples = measure(models, corpus, recipe)

    phases.start(PHASES[5])
    results = {
        "title": f"keras-distill demo: text, preset {preset}, seed {seed}",
        "settings": {"dataset": "text", "data": corpus.source, "preset": preset, "seed": seed,
                     "train_pieces": len(corpus.train), "test_pieces": len(corpus.test),
                     **text_models.settings(recipe)},
        "models": metrics,
        "samples": samples,
        "final_losses": {name: {key: values[-1] for key, values in h.history.items()}
                         for name, h in histories.items()},
    }
    results["phase_seconds"] = phases.finish()
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    files = {"markdown": os.path.join(out, "report.md"), "json": os.path.join(out, "report.json")}
    results["files"] = files
    write_json(files["json"], results)
    markdown = text_report.markdown(results)
    atomic_files.write_file(files["markdown"], lambda staged: _write_text(staged, markdown))
    if verbose:
        print(text_report.summary(results))
    return results


def _write_text(path, text):
    with open(path, "w") as f:
        f.write(text)
