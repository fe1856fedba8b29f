"""A teacher LM with another tokenizer (ULD): benchmarks/results/cross_tokenizer.md.

The language-model pair of benchmarks/language_models.py (standard-library
source, the byte-level BPE student of 957 tokens, sequence length 64), with a
teacher that reads bytes instead: a character-level keras-hub `GPT2CausalLM`
(256 byte ids, a start id) trained here on the same strings. The student
learns from it through `keras_distill.teachers.AlignedTeacher` (each student
position reads the teacher's byte position that ends where the student's
token ends) and `ULDLoss` (L1 between the sorted probability vectors, the
BPE vocabulary being the longer). The aligned teacher runs once, into a dense
`TeacherCache`. Compared with the student trained alone, from the same
initialisation per seed: held-out perplexity per BPE token.

The teacher's own held-out perplexity per BPE token is measured too (its
byte log-likelihoods summed over each token's bytes), so the table says
whether it predicts the text better than the student alone. With
`--validation N`, N of the sampled training strings are held out (from the
teacher and the students) and the `alpha:temperature` settings given are
compared on the first seed by validation perplexity; the best one is then
run on every seed and reported on the test text. `--teacher-weights PATH`
keeps the trained teacher (and its record, `PATH.json`) for a later run.

    python benchmarks/cross_tokenizer.py --seeds 0 1 2 --out benchmarks/results/cross_tokenizer.md
"""

import argparse
import json
import math
import os
import statistics
import time

import command_line
import keras
import keras_hub
import language_models as lm
import numpy as np

import keras_distill as kd
from keras_distill.core import atomic_files

START_ID = 0  # NUL never occurs in the source text


class Bytes:
    """A character-level tokenizer in plain Python: one id per UTF-8 byte."""

    def vocabulary_size(self):
        return 256

    def tokenize(self, text):
        return list(text.encode("utf-8"))

    def detokenize(self, ids):
        return bytes(int(i) for i in ids)


def byte_data(rows, length):
    """`(x, y, sample_weight)` of the byte teacher: the start id, then the text's bytes."""
    ids = np.zeros((len(rows), length + 1), "int32")
    mask = np.zeros((len(rows), length + 1), bool)
    for row, text in enumerate(rows):
        own = ([START_ID] + list(text.encode("utf-8")))[:length + 1]
        ids[row, :len(own)], mask[row, :len(own)] = own, True
    x = {"token_ids": ids[:, :-1], "padding_mask": mask[:, :-1]}
    return x, ids[:, 1:], mask[:, 1:].astype("float32")


def byte_teacher(length, seed, layers, width, heads=4):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=256, num_layers=layers, num_heads=heads,
        hidden_dim=width, intermediate_dim=4 * width,
        max_sequence_length=length, dropout=0.0,
    )
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=None, name="byte_teacher")


def per_token_nll(teacher, pieces, rows, x, y, weights, length):
    """Per-row `(teacher NLL, student-token count)` over the student's text tokens, or None per row.

    The teacher's byte negative log-likelihoods are summed over the bytes of
    the student's target tokens that hold text (the end token, which has no
    bytes, is left out); a row whose text runs past the teacher's length is
    None. Dividing by the count gives the teacher's NLL per BPE token.
    """
    bx, by, _ = byte_data(rows, length)
    out = []
    for part, log_p in lm.log_probabilities(teacher, bx, batch_size=128):
        nll = -np.take_along_axis(log_p, by[part][..., None], -1)[..., 0]
        for row, row_nll in zip(range(part.start, part.start + len(nll)), nll):
            keep = (weights[row] > 0) & (y[row] != 0)
            spelled = b"".join(pieces[int(i)] for i in y[row][keep])
            if len(spelled) > length or not rows[row].encode("utf-8").startswith(spelled):
                out.append(None)
                continue
            out.append((float(row_nll[:len(spelled)].sum()), int(keep.sum())))
    return out


def text_token_mask(y, weights):
    """The student's target positions that hold text (not the end token, not padding)."""
    return weights * (y != 0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--teacher-epochs", type=int, default=4)
    parser.add_argument("--teacher-layers", type=int, default=2)
    parser.add_argument("--teacher-width", type=int, default=64)
    parser.add_argument("--teacher-learning-rate", type=float, default=2e-3)
    parser.add_argument("--teacher-weights", default=None,
                        help="a .weights.h5 path: loaded when it exists, else written after training")
    parser.add_argument("--train-sequences", type=int, default=1500)
    parser.add_argument("--teacher-train-sequences", type=int, default=None,
                        help="strings the teacher trains on (the students' training strings and more, "
                             "never the validation ones); defaults to --train-sequences")
    parser.add_argument("--validation", type=int, default=0,
                        help="sampled training strings held out to choose the setting")
    parser.add_argument("--teacher-length", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--settings", nargs="+", default=["0.5:1"],
                        help="alpha:temperature pairs; more than one are compared on the first seed")
    parser.add_argument("--merges", type=int, default=700)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    settings = [tuple(float(v) for v in s.split(":")) for s in args.settings]
    if len(settings) > 1 and not args.validation:
        parser.error("comparing several --settings needs --validation N (never the test text)")

    start = time.perf_counter()
    vocabulary, merges = lm.train_bpe(lm.source(lm.TRAIN_MODULES), args.merges)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=lm.SEQUENCE_LENGTH)
    rng = np.random.default_rng(0)
    sampled = lm.texts(lm.TRAIN_MODULES)
    permutation = rng.permutation(len(sampled))
    order = permutation[:args.train_sequences]
    train_rows = [sampled[i] for i in sorted(order[args.validation:])]
    teacher_rows = [sampled[i] for i in sorted(
        permutation[args.validation:args.teacher_train_sequences or args.train_sequences])]
    valid_rows = [sampled[i] for i in sorted(order[:args.validation])]
    test_rows = lm.texts(lm.TEST_MODULES)
    x_train, y_train, w_train = lm.tokenize(preprocessor, train_rows)
    x_test, y_test, w_test = lm.tokenize(preprocessor, test_rows)
    if valid_rows:
        x_valid, y_valid, w_valid = lm.tokenize(preprocessor, valid_rows)
    vocabulary_size = tokenizer.vocabulary_size()
    record = {"setup_seconds": time.perf_counter() - start}

    # One byte teacher (seed 0) for every student seed, trained on the students' training strings
    # (and more with --teacher-train-sequences).
    bx, by, bw = byte_data(teacher_rows, args.teacher_length)
    tx, ty, tw = byte_data(test_rows, args.teacher_length)
    teacher = byte_teacher(args.teacher_length, 0, args.teacher_layers, args.teacher_width)
    if args.teacher_weights and os.path.exists(args.teacher_weights):
        teacher.load_weights(args.teacher_weights)
        with open(args.teacher_weights + ".json") as f:
            record["teacher"] = json.load(f)
        record["teacher"]["loaded_from"] = command_line.portable(os.path.abspath(args.teacher_weights))
    else:
        steps = args.teacher_epochs * math.ceil(len(by) / args.batch_size)
        teacher.compile(lm._optimizer(steps, args.teacher_learning_rate), lm.LOSS, weighted_metrics=[])
        start = time.perf_counter()
        teacher.fit(bx, by, sample_weight=bw, batch_size=args.batch_size, epochs=args.teacher_epochs,
                    verbose=0)
        record["teacher"] = {
            "epochs": args.teacher_epochs, "layers": args.teacher_layers, "width": args.teacher_width,
            "learning_rate": args.teacher_learning_rate, "training_strings": len(teacher_rows),
            "epoch_seconds": (time.perf_counter() - start) / args.teacher_epochs,
            "params": teacher.count_params(),
        }
        if args.teacher_weights:
            teacher.save_weights(args.teacher_weights)
            atomic_files.write_file(args.teacher_weights + ".json",
                                    lambda staged: lm._write(staged, json.dumps(record["teacher"])))
    record["teacher"]["perplexity_per_byte"] = lm.perplexity(teacher, tx, ty, tw)
    pieces = kd.teachers.token_pieces(tokenizer)
    test_nll = per_token_nll(teacher, pieces, test_rows, x_test, y_test, w_test, args.teacher_length)
    kept = np.array([n is not None for n in test_nll])
    record["teacher"]["test_strings_scored"] = f"{int(kept.sum())}/{len(kept)}"
    record["teacher"]["perplexity_per_bpe_text_token"] = math.exp(
        sum(n[0] for n in test_nll if n) / sum(n[1] for n in test_nll if n))
    # The student is scored on the same rows and tokens for the comparison with the teacher.
    text_w_test = text_token_mask(y_test, w_test) * kept[:, None]
    print(record, flush=True)

    start = time.perf_counter()
    aligned = kd.teachers.AlignedTeacher(
        teacher, tokenizer, Bytes(), sequence_length=lm.SEQUENCE_LENGTH,
        teacher_sequence_length=args.teacher_length, teacher_start_id=START_ID,
    )
    _, _, positions = aligned.align(x_train["token_ids"], x_train["padding_mask"])
    cache = kd.TeacherCache.compute(aligned, x_train, batch_size=64)
    record["cache"] = {"seconds": time.perf_counter() - start, "mib": cache.nbytes / 2**20,
                       "aligned_share": float((positions >= 0)[x_train["padding_mask"]].mean())}
    print(record["cache"], flush=True)

    def scores(model):
        out = {"test": lm.perplexity(model, x_test, y_test, w_test),
               "test_text_tokens": lm.perplexity(model, x_test, y_test, text_w_test)}
        if valid_rows:
            out["validation"] = lm.perplexity(model, x_valid, y_valid, w_valid)
        return out

    chosen = settings[0]
    for index, seed in enumerate(args.seeds):
        student = lm.seeded_students(vocabulary_size, seed)

        steps = args.epochs * math.ceil(len(y_train) / args.batch_size)
        alone = student()
        start = time.perf_counter()
        alone.compile(lm._optimizer(steps, args.learning_rate), lm.LOSS, weighted_metrics=[])
        alone.fit(x_train, y_train, sample_weight=w_train, batch_size=args.batch_size,
                  epochs=args.epochs, verbose=0)
        record[seed] = {"alone": scores(alone),
                        "alone_epoch_seconds": (time.perf_counter() - start) / args.epochs}
        for alpha, temperature in (settings if index == 0 else [chosen]):
            distilled = student()
            distiller = kd.Distiller(aligned, distilled)
            distiller.compile(optimizer=lm._optimizer(steps, args.learning_rate), student_loss_fn=lm.LOSS,
                              distillation_loss_fn=kd.losses.ULDLoss(), alpha=alpha,
                              temperature=temperature)
            start = time.perf_counter()
            distiller.fit(cache.inputs(x_train), y_train, sample_weight=w_train, batch_size=args.batch_size,
                          epochs=args.epochs, verbose=0)
            record[seed][f"uld {alpha}:{temperature}"] = scores(distilled)
            record[seed]["uld_epoch_seconds"] = (time.perf_counter() - start) / args.epochs
            print(seed, alpha, temperature, record[seed], flush=True)
        if index == 0 and len(settings) > 1:
            chosen = min(settings, key=lambda s: record[seed][f"uld {s[0]}:{s[1]}"]["validation"])
            record["chosen_by_validation"] = f"alpha {chosen[0]}, temperature {chosen[1]}"
        record[seed]["uld"] = record[seed][f"uld {chosen[0]}:{chosen[1]}"]
        header = (f"Machine: {os.cpu_count()} CPU cores; Keras backend {keras.backend.backend()}. "
                  f"BPE vocabulary {vocabulary_size}; {len(y_train)} training sequences "
                  f"({int(w_train.sum())} tokens), {len(y_valid) if valid_rows else 0} validation, "
                  f"{len(y_test)} held-out ({int(w_test.sum())} tokens).")
        _report(args, header, record)


def _report(args, header, record):
    seeds = [s for s in args.seeds if s in record and "uld" in record[s]]
    lines = ["| model | held-out perplexity / BPE token, mean (min to max) | per seed "
             "| same, text tokens only (no end token) | beats alone | s / epoch |",
             "|---|---:|---|---:|---:|---:|"]
    teacher = record["teacher"]
    lines.append(f"| byte teacher ({teacher.get('layers')} layers, width {teacher.get('width')}, "
                 f"{teacher.get('epochs')} epochs; one teacher for all seeds) | | | "
                 f"{teacher['perplexity_per_bpe_text_token']:.3f} | "
                 f"| {teacher.get('epoch_seconds', 0):.1f} |")
    for method, label in (("alone", "student alone (1 layer, width 32)"),
                          ("uld", "ULD from the byte teacher (AlignedTeacher, dense cache)")):
        values = [record[s][method]["test"] for s in seeds]
        text_values = [record[s][method]["test_text_tokens"] for s in seeds]
        wins = sum(record[s]["uld"]["test"] < record[s]["alone"]["test"] for s in seeds)
        wins = "" if method == "alone" else f"{wins}/{len(seeds)}"
        seconds = statistics.mean(record[s][f"{method}_epoch_seconds"] for s in seeds)
        lines.append(f"| {label} | {statistics.mean(values):.3f} ({min(values):.3f} to {max(values):.3f}) "
                     f"| {', '.join(f'{v:.3f}' for v in values)} | {statistics.mean(text_values):.3f} "
                     f"| {wins} | {seconds:.1f} |")
    first = args.seeds[0]
    sweep = [k for k in record.get(first, {}) if k.startswith("uld ")]
    if len(sweep) > 1:
        lines += ["", f"Settings compared on seed {first}, validation perplexity / BPE token "
                  f"(alone: {record[first]['alone']['validation']:.3f}):", "",
                  "| alpha:temperature | validation | test |", "|---|---:|---:|"]
        lines += [f"| {k[4:]} | {record[first][k]['validation']:.3f} | {record[first][k]['test']:.3f} |"
                  for k in sweep]
    text = "\n".join(lines)
    print(text, flush=True)
    if args.out:
        report = (f"Command: `{command_line.command('benchmarks/cross_tokenizer.py')}`\n\n{header}\n\n"
                  f"{text}\n\n```json\n{json.dumps(record, indent=1, default=str)}\n```\n")
        atomic_files.write_file(args.out, lambda staged: lm._write(staged, report))


if __name__ == "__main__":
    main()
