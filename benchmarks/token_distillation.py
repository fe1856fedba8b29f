"""Token-level distillation of a causal transformer: benchmarks/results/token_distillation.md.

A character-level language model on text shipped with Python itself (the
source of standard-library modules, read with `inspect`; nothing is
downloaded). The corpus is cut into lines grouped into chunks of varying
length, padded with token 0 and masked (`Embedding(mask_zero=True)`), so the
per-token losses average over real characters only.

For each seed: a teacher (3 blocks, width 96) and, from the same
initialisation, a student (1 block, width 48) trained alone and distilled
(online teacher; and from top-k TeacherCaches per token: ids, log-probabilities
and the tail mass). Reported:
held-out perplexity per character (exp of the mean negative log-likelihood
over valid tokens of modules the models never saw).

    python benchmarks/token_distillation.py --seeds 0 1 2 --top-k 8 \\
        8,tail=0.5,prior=teacher_tail --teacher-dir /tmp/teachers

Each `--top-k` entry is a cached variant with its own settings (`tail`,
`prior`, `T`, `alpha`); `--no-baselines` skips the student alone and the
online student; `--teacher-dir` saves each seed's teacher and reuses it.
"""

import argparse
import importlib
import inspect
import json
import math
import os
import statistics
import time

import command_line
import keras
import numpy as np
from keras import ops

import keras_distill as kd

TRAIN_MODULES = (
    "argparse", "difflib", "textwrap", "json.decoder", "json.encoder", "email.message",
    "configparser", "dataclasses", "fractions", "string", "shlex", "calendar",
)
TEST_MODULES = ("csv", "heapq", "bisect", "statistics")
LENGTH = 96
VOCAB = 98  # 0 = padding, 1 = unknown, 2.. = printable ASCII and newline


def encode(text):
    ids = []
    for ch in text:
        code = 2 + (ord(ch) - 32) if 32 <= ord(ch) < 127 else (97 if ch == "\n" else 1)
        ids.append(min(code, VOCAB - 1))
    return ids


def chunks(modules, seed):
    """Token sequences of whole lines, LENGTH+1 long with padding, of varying length."""
    rng = np.random.default_rng(seed)
    rows = []
    for name in modules:
        lines = inspect.getsource(importlib.import_module(name)).splitlines(keepends=True)
        current = []
        target = rng.integers(LENGTH // 3, LENGTH + 1)
        for line in lines:
            ids = encode(line)[: LENGTH + 1]
            if len(current) + len(ids) > target and current:
                rows.append(current)
                current, target = [], rng.integers(LENGTH // 3, LENGTH + 1)
            current = current + ids
        if current:
            rows.append(current[: LENGTH + 1])
    data = np.zeros((len(rows), LENGTH + 1), "int32")
    for i, row in enumerate(rows):
        data[i, : len(row)] = row[: LENGTH + 1]
    x, y = data[:, :-1], data[:, 1:]
    return x, y


def transformer(width, blocks, heads, name):
    inputs = keras.Input((LENGTH,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, width, mask_zero=True)(inputs)
    positions = keras.layers.Embedding(LENGTH, width)(ops.arange(LENGTH)[None, :])
    x = x + positions
    for _ in range(blocks):
        h = keras.layers.LayerNormalization()(x)
        h = keras.layers.MultiHeadAttention(heads, width // heads)(h, h, use_causal_mask=True)
        x = x + h
        h = keras.layers.LayerNormalization()(x)
        h = keras.layers.Dense(4 * width, activation="gelu")(h)
        x = x + keras.layers.Dense(width)(h)
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(inputs, keras.layers.Dense(VOCAB, name="logits")(x), name=name)


def perplexity(model, x, y):
    logits = np.asarray(model.predict(x, batch_size=256, verbose=0), np.float64)
    logits -= logits.max(-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_p, y[..., None], -1)[..., 0]
    valid = x != 0
    return float(math.exp(nll[valid].mean()))


def _optimizer(steps, learning_rate):
    return keras.optimizers.AdamW(
        keras.optimizers.schedules.CosineDecay(learning_rate, max(steps, 1)), weight_decay=0.01
    )


LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _teacher(seed, args, data, record):
    """The trained teacher of `seed`: loaded from `--teacher-dir` when saved there by an earlier run."""
    x_train, y_train, x_test, y_test = data
    path = args.teacher_dir and os.path.join(
        args.teacher_dir, f"teacher-seed{seed}-epochs{args.teacher_epochs}.weights.h5")
    keras.utils.set_random_seed(seed)
    teacher = transformer(96, 3, 4, "teacher")
    start = time.perf_counter()
    if path and os.path.exists(path):
        teacher.load_weights(path)
        record["loaded"] = path
    else:
        teacher.compile(_optimizer(args.teacher_epochs * math.ceil(len(x_train) / args.batch_size),
                                   1e-3), LOSS)
        teacher.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.teacher_epochs,
                    verbose=0)
        if path:
            os.makedirs(args.teacher_dir, exist_ok=True)
            teacher.save_weights(path)
    record.update(perplexity=perplexity(teacher, x_test, y_test), params=teacher.count_params(),
                  seconds=time.perf_counter() - start)
    print(f"seed {seed} teacher: {record}", flush=True)
    return teacher


def _teacher_tail(teacher, x, k):
    total = np.zeros(VOCAB)
    for start in range(0, len(x), 512):
        batch = x[start:start + 512]
        logits = np.asarray(teacher.predict(batch, verbose=0), np.float64)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        np.put_along_axis(p, np.argsort(-p, -1)[..., :k], 0.0, -1)
        total += p[batch != 0].sum(0)
    return total + 1e-12 * total.sum()


def _prior(priors, variant):
    if "prior" not in variant:
        return None
    name = variant["prior"]
    return priors[f"teacher_tail_{variant['k']}" if name == "teacher_tail" else name]


def run_seed(seed, args, data):
    x_train, y_train, x_test, y_test = data
    steps = args.epochs * math.ceil(len(x_train) / args.batch_size)
    result = {"teacher": {}}
    teacher = _teacher(seed, args, data, result["teacher"])
    keras.utils.set_random_seed(seed)
    init = transformer(48, 1, 2, "student").get_weights()
    caches = {k: kd.TeacherCache.compute(teacher, x_train, top_k=k)
              for k in sorted({variant["k"] for variant in args.top_k})}
    variants = {variant["name"]: variant for variant in args.top_k}
    baselines = () if args.no_baselines else ("alone", "distilled")
    priors = {
        # The characters' training frequencies (add-one smoothed).
        "unigram": np.bincount(y_train[x_train != 0], minlength=VOCAB) + 1.0,
        # The teacher's tail outside its top k, summed over the training tokens (one dense pass,
        # as when the cache is computed; only a vector is kept).
        **{f"teacher_tail_{k}": _teacher_tail(teacher, x_train, k)
           for k in {v["k"] for v in args.top_k if v.get("prior") == "teacher_tail"}},
    }
    for method in (*baselines, *variants):
        keras.utils.set_random_seed(seed)
        student = transformer(48, 1, 2, "student")
        student.set_weights(init)
        start = time.perf_counter()
        if method == "alone":
            student.compile(_optimizer(steps, 2e-3), LOSS)
            student.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                        verbose=0)
        else:
            variant = variants.get(method, {})
            distiller = kd.Distiller(teacher, student)
            distiller.compile(optimizer=_optimizer(steps, 2e-3), student_loss_fn=LOSS,
                              distillation_loss_fn=kd.losses.KDLoss(
                                  top_k_tail=variant.get("tail", "bucket"),
                                  top_k_prior=_prior(priors, variant)),
                              alpha=variant.get("alpha", args.alpha),
                              temperature=variant.get("T", args.temperature))
            inputs = x_train if method == "distilled" else caches[variant["k"]].inputs(x_train)
            distiller.fit(inputs, y_train, batch_size=args.batch_size, epochs=args.epochs,
                          verbose=0)
        result[method] = {"perplexity": perplexity(student, x_test, y_test),
                          "params": student.count_params(),
                          "seconds": time.perf_counter() - start}
        print(f"seed {seed} {method}: {result[method]}", flush=True)
    result["cache_mib"] = {**{f"top_{k}": cache.nbytes / 2**20 for k, cache in caches.items()},
                           "dense": len(x_train) * LENGTH * VOCAB * 4 / 2**20}
    return result


def table(results, args):
    seeds = sorted(results)
    lines = ["| model | params | held-out perplexity / character, mean (min to max) | per seed "
             "| beats alone | s / run |", "|---|---:|---:|---|---:|---:|"]
    labels = {"teacher": "teacher (3 blocks, width 96)", "alone": "student alone (1 block, width 48)",
              "distilled": "student distilled, online teacher",
              **{v["name"]: f"student distilled, TeacherCache {v['label']}" for v in args.top_k}}
    for method, label in labels.items():
        if not all(method in results[s] for s in seeds):
            continue
        values = [results[s][method]["perplexity"] for s in seeds]
        wins = ""
        if method.startswith("distilled") and all("alone" in results[s] for s in seeds):
            wins = sum(results[s][method]["perplexity"] < results[s]["alone"]["perplexity"]
                       for s in seeds)
            wins = f"{wins}/{len(seeds)}"
        seconds = statistics.mean(results[s][method]["seconds"] for s in seeds)
        lines.append(
            f"| {label} | {results[seeds[0]][method]['params']:,} | {statistics.mean(values):.3f} "
            f"({min(values):.3f} to {max(values):.3f}) | {', '.join(f'{v:.3f}' for v in values)} "
            f"| {wins} | {seconds:.0f} |")
    mib = results[seeds[0]]["cache_mib"]
    lines.append("")
    for k in sorted({v["k"] for v in args.top_k}):
        lines.append(f"Top-{k} cache: {mib[f'top_{k}']:.1f} MiB vs {mib['dense']:.1f} MiB dense.")
    if all("distilled" in results[s] for s in seeds):
        dense = statistics.mean(results[s]["distilled"]["perplexity"] for s in seeds)
        for v in args.top_k:
            top = statistics.mean(results[s][v["name"]]["perplexity"] for s in seeds)
            lines.append(f"{v['label']} vs online dense (mean): {100 * (top / dense - 1):+.2f}%.")
    return "\n".join(lines)


def variant(spec):
    """A `--top-k` entry: `k` or `k,tail=uniform,T=2,alpha=0.3` (settings of that run only)."""
    k, *settings = spec.split(",")
    result = {"k": int(k), "name": f"distilled_top_{k}", "label": f"top_k={k}"}
    for setting in settings:
        key, value = setting.split("=")
        if key not in ("tail", "T", "alpha", "prior"):
            raise argparse.ArgumentTypeError(f"unknown setting {key!r} in {spec!r}")
        if key == "prior" and value not in ("unigram", "teacher_tail"):
            raise argparse.ArgumentTypeError(f"prior must be unigram or teacher_tail in {spec!r}")
        text = (key == "tail" and value in ("bucket", "spread")) or key == "prior"
        result[key] = value if text else float(value)
        result["name"] += f"_{key}={value}"
        result["label"] += f", {key}={value}"
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--teacher-epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=variant, nargs="+", default=[variant("8"), variant("32")],
                        help="cached variants: k, or k,tail=bucket|spread|weight,"
                             "prior=unigram|teacher_tail,T=..,alpha=..")
    parser.add_argument("--no-baselines", action="store_true",
                        help="run only the cached variants (not the student alone and online)")
    parser.add_argument("--out", default=None)
    parser.add_argument("--teacher-dir", default=None,
                        help="save each seed's trained teacher here and reuse it in later runs")
    args = parser.parse_args(argv)
    x_train, y_train = chunks(TRAIN_MODULES, 0)
    x_test, y_test = chunks(TEST_MODULES, 1)
    print(f"{len(x_train)} training and {len(x_test)} held-out sequences; "
          f"{int((x_train != 0).sum())} training characters", flush=True)
    results = {}
    for seed in args.seeds:
        results[seed] = run_seed(seed, args, (x_train, y_train, x_test, y_test))
        text = table(results, args)
        if args.out:
            with open(args.out, "w") as f:
                f.write(f"Command: `{command_line.command('benchmarks/token_distillation.py')}`"
                        f"\n\nMachine: {os.cpu_count()} CPU cores; Keras backend "
                        f"{keras.backend.backend()}.\n\n{text}\n\n```json\n"
                        f"{json.dumps(results, indent=1)}\n```\n")
    print(text)


if __name__ == "__main__":
    main()
