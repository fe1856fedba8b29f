"""Distilling a keras-hub GPT-2 language model: benchmarks/results/language_models.md.

A GPT-2 teacher and student built from config (keras-hub `GPT2CausalLM`), on
the source of standard-library modules read with `inspect` (nothing is
downloaded). The byte-level BPE tokenizer is trained here, greedily, on the
training modules; keras-hub's `GPT2Tokenizer` and `GPT2CausalLMPreprocessor`
tokenize the text once into `token_ids`, `padding_mask`, next-token labels
and the labels' padding mask, which every run then reads.

For each seed: a teacher (trained once, saved under `--teacher-dir` and
reused) and, from one initialisation, a student trained alone and distilled
with each divergence (online teacher), from top-k `TeacherCache`s with the
tail (`KDLoss(top_k_tail=0.5, top_k_prior=<the teacher's tail>)`, the best
setting of benchmarks/results/token_distillation.md), and a LoRA student (the
student trained alone, then `lora_student(rank)` distilled with forward KL).
Reported: held-out perplexity per token (exp of the mean negative
log-likelihood over real next tokens of modules the models never saw) and
seconds per training epoch.

    python benchmarks/language_models.py --seeds 0 1 2 --teacher-dir /tmp/lm-teachers \\
        --out benchmarks/results/language_models.md
"""

import argparse
import collections
import importlib
import inspect
import json
import math
import os
import re
import statistics
import time

import command_line
import keras
import keras_hub
import numpy as np

import keras_distill as kd
from keras_distill.core import atomic_files

TRAIN_MODULES = (
    "argparse", "difflib", "textwrap", "json.decoder", "json.encoder", "email.message",
    "configparser", "dataclasses", "fractions", "string", "shlex", "calendar",
)
TEST_MODULES = ("csv", "heapq", "bisect", "statistics")
SEQUENCE_LENGTH = 64
CHARACTERS_PER_SEQUENCE = 160  # lines are grouped up to this many characters per sequence
# GPT-2's pre-tokenization (keras-hub splits text the same way before the merges).
WORDS = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")
TEACHER = {"layers": 2, "width": 96, "heads": 4}
STUDENT = {"layers": 1, "width": 32, "heads": 2}
TAIL = {"top_k_tail": 0.5}  # with the teacher's own tail as prior (token_distillation.md)
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def source(modules):
    return [inspect.getsource(importlib.import_module(name)) for name in modules]


def texts(modules):
    """Whole lines grouped into strings of up to `CHARACTERS_PER_SEQUENCE` characters."""
    rows = []
    for text in source(modules):
        current = ""
        for line in text.splitlines(keepends=True):
            if current and len(current) + len(line) > CHARACTERS_PER_SEQUENCE:
                rows.append(current)
                current = ""
            current += line
        if current:
            rows.append(current)
    return rows


def byte_characters():
    """GPT-2's printable stand-in character for each byte value 0..255."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def train_bpe(documents, merges):
    """`(vocabulary, merges)` of a byte-level BPE learned greedily from `documents`.

    The most frequent adjacent pair is merged, `merges` times; pair counts are
    updated only for the words that hold the merged pair.
    """
    chars = byte_characters()
    words = collections.Counter()
    for document in documents:
        for word in WORDS.findall(document):
            words[tuple(chars[b] for b in word.encode("utf-8"))] += 1
    words = [[list(word), count] for word, count in words.items()]
    pairs, holders = collections.Counter(), collections.defaultdict(set)
    for index, (word, count) in enumerate(words):
        for pair in zip(word, word[1:]):
            pairs[pair] += count
            holders[pair].add(index)
    vocabulary = {"<|endoftext|>": 0}
    for char in chars:
        vocabulary.setdefault(char, len(vocabulary))
    rules = []
    for _ in range(merges):
        if not pairs:
            break
        (left, right), _ = pairs.most_common(1)[0]
        rules.append(f"{left} {right}")
        vocabulary.setdefault(left + right, len(vocabulary))
        for index in holders.pop((left, right), ()):
            word, count = words[index]
            for pair in zip(word, word[1:]):
                pairs[pair] -= count
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == left and word[i + 1] == right:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            words[index][0] = merged
            for pair in zip(merged, merged[1:]):
                pairs[pair] += count
                holders[pair].add(index)
        pairs = +pairs  # drops the pairs no word holds any more
    return vocabulary, rules


def tokenize(preprocessor, rows):
    """`(x, y, sample_weight)` NumPy arrays of the student's preprocessing."""
    x, y, weights = preprocessor(rows)
    x = {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}
    return x, keras.ops.convert_to_numpy(y), keras.ops.convert_to_numpy(weights)


def gpt2(vocabulary_size, layers, width, heads, name):
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=vocabulary_size, num_layers=layers, num_heads=heads, hidden_dim=width,
        intermediate_dim=4 * width, max_sequence_length=SEQUENCE_LENGTH, dropout=0.0,
    )
    # No preprocessor: the token ids are computed once, outside the models.
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=None, name=name)


def seeded_students(vocabulary_size, seed):
    """A factory of students that all start from `seed`'s initialisation."""
    keras.utils.set_random_seed(seed)
    init = gpt2(vocabulary_size, name="student", **STUDENT).get_weights()

    def student():
        keras.utils.set_random_seed(seed)
        model = gpt2(vocabulary_size, name="student", **STUDENT)
        model.set_weights(init)
        return model

    return student


def log_probabilities(model, x, batch_size=512):
    """Batches of the model's float64 log-softmax over the vocabulary, with their slice."""
    count = len(x["token_ids"])
    for start in range(0, count, batch_size):
        batch = {key: value[start:start + batch_size] for key, value in x.items()}
        logits = np.asarray(model.predict_on_batch(batch), np.float64)
        logits -= logits.max(-1, keepdims=True)
        yield slice(start, start + batch_size), logits - np.log(
            np.exp(logits).sum(-1, keepdims=True))


def perplexity(model, x, y, weights):
    nll, tokens = 0.0, 0.0
    for part, log_p in log_probabilities(model, x):
        token_nll = -np.take_along_axis(log_p, y[part][..., None], -1)[..., 0]
        nll += float((token_nll * weights[part]).sum())
        tokens += float(weights[part].sum())
    return math.exp(nll / tokens)


def teacher_tail(teacher, x, weights, k):
    """The teacher's probability outside its top k, summed over the real training tokens."""
    total = 0.0
    for part, log_p in log_probabilities(teacher, x):
        p = np.exp(log_p)
        np.put_along_axis(p, np.argpartition(-p, k - 1, -1)[..., :k], 0.0, -1)
        total = total + (p * weights[part][..., None]).sum((0, 1))
    return total + 1e-12 * total.sum()


def _optimizer(steps, learning_rate):
    return keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1)), weight_decay=0.01
    )


def _teacher(seed, args, vocabulary_size, data, record):
    """The trained teacher of `seed`: loaded from `--teacher-dir` when saved there by an earlier run."""
    x_train, y_train, w_train, x_test, y_test, w_test = data
    path = args.teacher_dir and os.path.join(
        args.teacher_dir,
        f"gpt2-teacher-seed{seed}-vocab{vocabulary_size}-epochs{args.teacher_epochs}.weights.h5")
    keras.utils.set_random_seed(seed)
    teacher = gpt2(vocabulary_size, name="teacher", **TEACHER)
    start = time.perf_counter()
    if path and os.path.exists(path):
        teacher.load_weights(path)
        record["loaded"] = path
    else:
        steps = args.teacher_epochs * math.ceil(len(y_train) / args.batch_size)
        teacher.compile(_optimizer(steps, 2e-3), LOSS, weighted_metrics=[])
        teacher.fit(x_train, y_train, sample_weight=w_train, batch_size=args.batch_size,
                    epochs=args.teacher_epochs, verbose=0)
        record["epoch_seconds"] = (time.perf_counter() - start) / args.teacher_epochs
        if path:
            os.makedirs(args.teacher_dir, exist_ok=True)
            teacher.save_weights(path)
    record.update(perplexity=perplexity(teacher, x_test, y_test, w_test),
                  params=teacher.count_params())
    print(f"seed {seed} teacher: {record}", flush=True)
    return teacher


def distillation_losses():
    """The online variants: name -> (distillation loss)."""
    return {
        "forward_kl": kd.losses.KDLoss(),
        "reverse_kl": kd.losses.ReverseKL(),
        "jsd": kd.losses.GeneralizedJSD(beta=0.5),
        "skew_kl": kd.losses.SkewKL(alpha=0.1),
    }


def run_seed(seed, args, vocabulary_size, data):
    x_train, y_train, w_train, x_test, y_test, w_test = data
    steps = args.epochs * math.ceil(len(y_train) / args.batch_size)
    result = {"teacher": {}}
    teacher = _teacher(seed, args, vocabulary_size, data, result["teacher"])
    student = seeded_students(vocabulary_size, seed)
    online = {name: loss for name, loss in distillation_losses().items() if name in args.methods}
    top_ks = [k for k in args.top_k if f"top_{k}" in args.methods] if "top_k" in args.methods \
        else []

    def distil(model, loss, inputs, epochs, learning_rate):
        distiller = kd.Distiller(teacher, model)
        distiller.compile(
            optimizer=_optimizer(epochs * math.ceil(len(y_train) / args.batch_size), learning_rate),
            student_loss_fn=LOSS, distillation_loss_fn=loss, alpha=args.alpha,
            temperature=args.temperature)
        distiller.fit(inputs, y_train, sample_weight=w_train, batch_size=args.batch_size,
                      epochs=epochs, verbose=0)

    def record(method, model, start, epochs, **extra):
        result[method] = {"perplexity": perplexity(model, x_test, y_test, w_test),
                          "params": model.count_params(),
                          "trainable_params": sum(int(np.prod(v.shape))
                                                  for v in model.trainable_weights),
                          "epoch_seconds": (time.perf_counter() - start) / epochs, **extra}
        print(f"seed {seed} {method}: {result[method]}", flush=True)

    alone = student()
    start = time.perf_counter()
    alone.compile(_optimizer(steps, args.learning_rate), LOSS, weighted_metrics=[])
    alone.fit(x_train, y_train, sample_weight=w_train, batch_size=args.batch_size,
              epochs=args.epochs, verbose=0)
    record("alone", alone, start, args.epochs)
    for name, loss in online.items():
        model = student()
        start = time.perf_counter()
        distil(model, loss, x_train, args.epochs, args.learning_rate)
        record(name, model, start, args.epochs)
    for k in top_ks:
        start = time.perf_counter()
        cache = kd.TeacherCache.compute(teacher, x_train, top_k=k)
        prior = teacher_tail(teacher, x_train, w_train, k)
        cache_seconds = time.perf_counter() - start
        model = student()
        start = time.perf_counter()
        distil(model, kd.losses.KDLoss(top_k_prior=prior, **TAIL), cache.inputs(x_train),
               args.epochs, args.learning_rate)
        record(f"top_{k}", model, start, args.epochs, cache_seconds=cache_seconds,
               cache_mib=cache.nbytes / 2**20)
    if "lora" in args.methods:
        model = student()
        model.set_weights(alone.get_weights())
        kd.language.lora_student(model, rank=args.lora_rank)
        start = time.perf_counter()
        distil(model, kd.losses.KDLoss(), x_train, args.lora_epochs, args.lora_learning_rate)
        record("lora", model, start, args.lora_epochs)
    result["dense_mib"] = y_train.size * vocabulary_size * 4 / 2**20
    return result


LABELS = {
    "teacher": "teacher ({layers} layers, width {width})".format(**TEACHER),
    "alone": "student alone ({layers} layer, width {width})".format(**STUDENT),
    "forward_kl": "forward KL (KDLoss), online teacher",
    "reverse_kl": "reverse KL, online teacher",
    "jsd": "JSD(0.5), online teacher",
    "skew_kl": "skew KL (alpha 0.1), online teacher",
    "top_8": "top-8 TeacherCache, tail 0.5, teacher-tail prior",
    "top_32": "top-32 TeacherCache, tail 0.5, teacher-tail prior",
    "lora": "LoRA student (the student alone + LoRA, forward KL)",
}


def table(results):
    seeds = sorted(results)
    lines = ["| model | params (trainable) | held-out perplexity / token, mean (min to max) | per seed "
             "| beats alone | s / epoch |", "|---|---:|---:|---|---:|---:|"]
    for method, label in LABELS.items():
        if not all(method in results[s] for s in seeds):
            continue
        rows = [results[s][method] for s in seeds]
        values = [row["perplexity"] for row in rows]
        wins = ""
        if method not in ("teacher", "alone"):
            wins = sum(row["perplexity"] < results[s]["alone"]["perplexity"]
                       for s, row in zip(seeds, rows))
            wins = f"{wins}/{len(seeds)}"
        params = f"{rows[0]['params']:,}"
        if rows[0].get("trainable_params", rows[0]["params"]) != rows[0]["params"]:
            params += f" ({rows[0]['trainable_params']:,})"
        timed = [row["epoch_seconds"] for row in rows if "epoch_seconds" in row]
        seconds = f"{statistics.mean(timed):.1f}" if timed else ""
        lines.append(
            f"| {label} | {params} | {statistics.mean(values):.3f} ({min(values):.3f} to "
            f"{max(values):.3f}) | {', '.join(f'{v:.3f}' for v in values)} | {wins} | {seconds} |")
    lines.append("")
    first = results[seeds[0]]
    for method in ("top_8", "top_32"):
        if all(method in results[s] for s in seeds):
            seconds = statistics.mean(results[s][method]["cache_seconds"] for s in seeds)
            lines.append(f"Top-{method[4:]} cache: {first[method]['cache_mib']:.1f} MiB vs "
                         f"{first['dense_mib']:.1f} MiB of dense float32 logits; computed with "
                         f"its prior in {seconds:.0f} s.")
    if all("forward_kl" in results[s] for s in seeds):
        dense = statistics.mean(results[s]["forward_kl"]["perplexity"] for s in seeds)
        for method in LABELS:
            if method not in ("teacher", "alone", "forward_kl") and all(
                    method in results[s] for s in seeds):
                mean = statistics.mean(results[s][method]["perplexity"] for s in seeds)
                lines.append(f"{LABELS[method]} vs online forward KL (mean of {len(seeds)} "
                             f"seeds): {100 * (mean / dense - 1):+.2f}%.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--teacher-epochs", type=int, default=6)
    parser.add_argument("--lora-epochs", type=int, default=3)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--lora-learning-rate", type=float, default=3e-3)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--merges", type=int, default=700,
                        help="BPE merges learned here: vocabulary = 257 + merges")
    parser.add_argument("--top-k", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--methods", nargs="+",
                        default=["forward_kl", "reverse_kl", "jsd", "skew_kl", "top_k", "lora"],
                        help="what to run besides the teacher and the student alone")
    parser.add_argument("--teacher-dir", default=None,
                        help="save each seed's trained teacher here and reuse it in later runs")
    parser.add_argument("--out", default=None)
    parser.add_argument("--json", default=None, help="also write the per-seed numbers here")
    parser.add_argument("--merge", nargs="+", default=None,
                        help="only write the table of these `--json` files (seeds run apart)")
    args = parser.parse_args(argv)
    if args.merge:
        results = {}
        for path in args.merge:
            with open(path) as f:
                header, part = json.load(f)
            results.update(part)
        return _report(args, header, {int(seed): value for seed, value in results.items()})
    if "top_k" in args.methods:
        args.methods += [f"top_{k}" for k in args.top_k]

    start = time.perf_counter()
    vocabulary, merges = train_bpe(source(TRAIN_MODULES), args.merges)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH)
    x_train, y_train, w_train = tokenize(preprocessor, texts(TRAIN_MODULES))
    x_test, y_test, w_test = tokenize(preprocessor, texts(TEST_MODULES))
    vocabulary_size = tokenizer.vocabulary_size()
    print(f"vocabulary {vocabulary_size}; {len(y_train)} training sequences "
          f"({int(w_train.sum())} tokens), {len(y_test)} held-out ({int(w_test.sum())} tokens); "
          f"tokenizer and tokens in {time.perf_counter() - start:.0f} s", flush=True)
    data = (x_train, y_train, w_train, x_test, y_test, w_test)
    header = (f"Machine: {os.cpu_count()} CPU cores; Keras backend {keras.backend.backend()}. "
              f"Vocabulary {vocabulary_size}; {len(y_train)} training sequences "
              f"({int(w_train.sum())} tokens), {len(y_test)} held-out "
              f"({int(w_test.sum())} tokens).")
    results = {}
    for seed in args.seeds:
        results[seed] = run_seed(seed, args, vocabulary_size, data)
        _report(args, header, results)
        if args.json:
            atomic_files.write_file(
                args.json, lambda staged: _write(staged, json.dumps([header, results])))


def _report(args, header, results):
    text = table(results)
    if args.out:
        report = (f"Command: `{command_line.command('benchmarks/language_models.py')}`\n\n"
                  f"{header}\n\n{text}\n\n```json\n{json.dumps(results, indent=1)}\n```\n")
        atomic_files.write_file(args.out, lambda staged: _write(staged, report))
    print(text)


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
