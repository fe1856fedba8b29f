"""Sequence-level and on-policy distillation of a generative student, against token KD.

The text demo's setup (`keras_distill/demo/text_*.py`): Python's reference
manual, a SentencePiece tokenizer trained on it, a 2-layer Gemma-architecture
teacher and a 1-layer student trained from scratch. Per seed, one teacher is
trained, then five students from the same initial weights, each for the same
epochs on the same shuffled batches:

- `alone`: next-token loss only.
- `token_kd`: `Distiller`, forward KL at T=1 plus the next-token loss (alpha 0.5).
- `sequence_kd`: the student's next-token loss on the teacher's greedy
  continuations of every training piece's first words (Kim and Rush 2016).
- `gkd`: `OnPolicyDistiller`, lambda 0.5, `GeneralizedJSD(beta=0.5)`, alpha 0.
- `on_policy_reverse_kl`: `OnPolicyDistiller`, lambda 1, reverse KL, alpha 0.

Measures: held-out perplexity; the teacher's mean negative log-likelihood per
token of the student's own continuations of 64 held-out prompts (sampled at
T=1 with a fixed seed, and greedy), lower is better; seconds (wall and CPU)
per training epoch, relative to token KD (sequence KD's generation counted
separately).

Run (from the repository root):
    python benchmarks/generative.py --seeds 0 1 2 --out benchmarks/results/generative.json
"""

import argparse
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_distill import Distiller  # noqa: E402
from keras_distill.demo import text_data  # noqa: E402
from keras_distill.demo import text_metrics  # noqa: E402
from keras_distill.demo import text_models  # noqa: E402
from keras_distill.demo import text_pipeline  # noqa: E402
from keras_distill.language import OnPolicyDistiller  # noqa: E402
from keras_distill.language import TeacherSequences  # noqa: E402
from keras_distill.losses import GeneralizedJSD  # noqa: E402

METHODS = ("alone", "token_kd", "sequence_kd", "gkd", "on_policy_reverse_kl")
SCORE_PROMPTS = 64


def _timed(fit):
    wall, cpu = time.perf_counter(), time.process_time()
    history = fit()
    return history, time.perf_counter() - wall, time.process_time() - cpu


def _compile_distiller(distiller, recipe, num_texts, loss, alpha):
    distiller.compile(
        optimizer=text_models.optimizer(
            recipe.learning_rate,
            text_pipeline.steps(num_texts, recipe.batch_size, recipe.student_epochs)),
        student_loss_fn=text_models.next_token_loss(),
        distillation_loss_fn=loss, alpha=alpha, temperature=1.0,
    )
    return distiller


def train(method, teacher, student, corpus, recipe, seed, work):
    """Trains `student` by `method`; returns `(extra_seconds, wall, cpu)` of training."""
    epochs, batches = recipe.student_epochs, text_pipeline.batches
    prompt_tokens = recipe.prompt_words + 1  # about: the start token and four words
    extra = 0.0
    if method == "alone":
        fit = lambda: text_pipeline.train_language_model(  # noqa: E731
            student, corpus.train, recipe, epochs, seed, 0)
    elif method == "sequence_kd":
        folder = os.path.join(work, f"sequences_{seed}")
        shutil.rmtree(folder, ignore_errors=True)  # this run's teacher, not a previous one's
        start = time.perf_counter()
        sequences = TeacherSequences.build(
            teacher, text_data.prompts(corpus.train, recipe.prompt_words), folder, batch_size=256,
            max_length=recipe.sequence_length, sampler="greedy")
        extra = time.perf_counter() - start
        fit = lambda: text_pipeline.train_language_model(  # noqa: E731
            student, sequences.texts(), recipe, epochs, seed, 0)
    else:
        if method == "token_kd":
            distiller = _compile_distiller(Distiller(teacher, student), recipe,
                                           len(corpus.train), "forward_kl", recipe.alpha)
        else:
            fraction, loss = ((0.5, GeneralizedJSD(beta=0.5)) if method == "gkd"
                              else (1.0, "reverse_kl"))
            distiller = _compile_distiller(
                OnPolicyDistiller(teacher, student, on_policy_fraction=fraction,
                                  prompt_length=prompt_tokens,
                                  max_new_tokens=recipe.sequence_length - prompt_tokens,
                                  sampler="random", sampling_temperature=1.0, seed=seed),
                recipe, len(corpus.train), loss, 0.0)
        fit = lambda: distiller.fit(  # noqa: E731
            batches(corpus.train, recipe.batch_size, seed), epochs=epochs, shuffle=False,
            verbose=0)
    _, wall, cpu = _timed(fit)
    return extra, wall, cpu


def measure(teacher, student, corpus, recipe, seed):
    prompts = text_data.prompts(corpus.test, recipe.prompt_words)
    prompts = prompts[:: max(1, len(prompts) // SCORE_PROMPTS)][:SCORE_PROMPTS]
    row = text_metrics.evaluate({"teacher": teacher, "student": student}, corpus.test)["student"]
    for sampler in ("random", "greedy"):
        texts = text_metrics.generate(student, prompts, recipe.sequence_length, sampler, seed)
        row[f"teacher_nll_{sampler}"] = text_metrics.continuation_nll(
            teacher, prompts, texts, recipe.sequence_length)
    row["sample"] = texts[0]
    return row


def run_seed(seed, methods, recipe, work):
    keras.utils.set_random_seed(seed)
    corpus = text_data.load(recipe.max_characters, max_train=recipe.max_train)
    tokenizer = text_models.tokenizer(
        text_data.sentence_piece_proto(corpus.train, recipe.vocabulary_size))
    teacher = text_models.teacher(tokenizer, recipe)
    _, teacher_wall, teacher_cpu = _timed(lambda: text_pipeline.train_language_model(
        teacher, corpus.train, recipe, recipe.teacher_epochs, seed, 0))
    initial = text_models.student(tokenizer, recipe).get_weights()
    rows = {"teacher": measure(teacher, teacher, corpus, recipe, seed)}
    rows["teacher"].update(wall_seconds=teacher_wall, cpu_seconds=teacher_cpu)
    for method in methods:
        student = text_models.student(tokenizer, recipe, name=f"student_{method}")
        student.set_weights(initial)
        extra, wall, cpu = train(method, teacher, student, corpus, recipe, seed, work)
        row = measure(teacher, student, corpus, recipe, seed)
        row.update(generation_seconds=extra, wall_per_epoch=wall / recipe.student_epochs,
                   cpu_per_epoch=cpu / recipe.student_epochs)
        rows[method] = row
        print(f"seed {seed} {method}: perplexity {row['perplexity']:.2f}  teacher NLL sampled "
              f"{row['teacher_nll_random']:.3f} greedy {row['teacher_nll_greedy']:.3f}  "
              f"{row['wall_per_epoch']:.1f} s/epoch wall, {row['cpu_per_epoch']:.1f} CPU",
              flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--preset", choices=text_models.PRESETS, default="quick")
    parser.add_argument("--work", default="/tmp/keras_distill_generative")
    parser.add_argument("--out", default=None, help="Write the rows as JSON here.")
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # generate's retracing notes, one per new sampler
    recipe = text_models.recipe(args.preset)
    results = {}
    for seed in args.seeds:
        results[seed] = run_seed(seed, args.methods, recipe, args.work)
        if args.out:
            with open(args.out, "w") as f:
                json.dump(results, f, indent=1)
    for method in ("teacher", *args.methods):
        values = np.array([[results[s][method][k] for k in
                            ("perplexity", "teacher_nll_random", "teacher_nll_greedy")]
                           for s in args.seeds])
        print(method, "mean perplexity, teacher NLL sampled, greedy:",
              np.round(values.mean(0), 3).tolist())


if __name__ == "__main__":
    main()
