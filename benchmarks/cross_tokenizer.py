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

TEACHER = {"layers": 2, "width": 64, "heads": 4}
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


def byte_teacher(length, seed):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=256, num_layers=TEACHER["layers"], num_heads=TEACHER["heads"],
        hidden_dim=TEACHER["width"], intermediate_dim=4 * TEACHER["width"],
        max_sequence_length=length, dropout=0.0,
    )
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=None, name="byte_teacher")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--teacher-epochs", type=int, default=4)
    parser.add_argument("--train-sequences", type=int, default=1500)
    parser.add_argument("--teacher-length", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--merges", type=int, default=700)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    vocabulary, merges = lm.train_bpe(lm.source(lm.TRAIN_MODULES), args.merges)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=lm.SEQUENCE_LENGTH)
    rng = np.random.default_rng(0)
    train_rows = lm.texts(lm.TRAIN_MODULES)
    train_rows = [train_rows[i] for i in sorted(rng.permutation(len(train_rows))[:args.train_sequences])]
    x_train, y_train, w_train = lm.tokenize(preprocessor, train_rows)
    x_test, y_test, w_test = lm.tokenize(preprocessor, lm.texts(lm.TEST_MODULES))
    vocabulary_size = tokenizer.vocabulary_size()
    record = {"setup_seconds": time.perf_counter() - start}

    # One byte teacher (seed 0) for every student seed.
    bx, by, bw = byte_data(train_rows, args.teacher_length)
    tx, ty, tw = byte_data(lm.texts(lm.TEST_MODULES), args.teacher_length)
    teacher = byte_teacher(args.teacher_length, 0)
    steps = args.teacher_epochs * math.ceil(len(by) / args.batch_size)
    teacher.compile(lm._optimizer(steps, 2e-3), lm.LOSS, weighted_metrics=[])
    start = time.perf_counter()
    teacher.fit(bx, by, sample_weight=bw, batch_size=args.batch_size, epochs=args.teacher_epochs, verbose=0)
    record["teacher"] = {"epoch_seconds": (time.perf_counter() - start) / args.teacher_epochs,
                         "params": teacher.count_params(),
                         "perplexity_per_byte": lm.perplexity(teacher, tx, ty, tw)}
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

    for seed in args.seeds:
        keras.utils.set_random_seed(seed)
        init = lm.gpt2(vocabulary_size, name="student", **lm.STUDENT).get_weights()

        def student(seed=seed, init=init):
            keras.utils.set_random_seed(seed)
            model = lm.gpt2(vocabulary_size, name="student", **lm.STUDENT)
            model.set_weights(init)
            return model

        steps = args.epochs * math.ceil(len(y_train) / args.batch_size)
        alone = student()
        start = time.perf_counter()
        alone.compile(lm._optimizer(steps, args.learning_rate), lm.LOSS, weighted_metrics=[])
        alone.fit(x_train, y_train, sample_weight=w_train, batch_size=args.batch_size,
                  epochs=args.epochs, verbose=0)
        alone_seconds = (time.perf_counter() - start) / args.epochs
        distilled = student()
        distiller = kd.Distiller(aligned, distilled)
        distiller.compile(optimizer=lm._optimizer(steps, args.learning_rate), student_loss_fn=lm.LOSS,
                          distillation_loss_fn=kd.losses.ULDLoss(), alpha=args.alpha,
                          temperature=args.temperature)
        start = time.perf_counter()
        distiller.fit(cache.inputs(x_train), y_train, sample_weight=w_train, batch_size=args.batch_size,
                      epochs=args.epochs, verbose=0)
        record[seed] = {
            "alone": lm.perplexity(alone, x_test, y_test, w_test), "alone_epoch_seconds": alone_seconds,
            "uld": lm.perplexity(distilled, x_test, y_test, w_test),
            "uld_epoch_seconds": (time.perf_counter() - start) / args.epochs,
        }
        print(seed, record[seed], flush=True)
        header = (f"Machine: {os.cpu_count()} CPU cores; Keras backend {keras.backend.backend()}. "
                  f"BPE vocabulary {vocabulary_size}; {len(y_train)} training sequences "
                  f"({int(w_train.sum())} tokens), {len(y_test)} held-out ({int(w_test.sum())} tokens).")
        _report(args, header, record)


def _report(args, header, record):
    seeds = [s for s in args.seeds if s in record]
    lines = ["| model | held-out perplexity / BPE token, mean (min to max) | per seed | beats alone "
             "| s / epoch |", "|---|---:|---|---:|---:|"]
    for method, label in (("alone", "student alone (1 layer, width 32)"),
                          ("uld", "ULD from the byte teacher (AlignedTeacher, dense cache)")):
        values = [record[s][method] for s in seeds]
        wins = sum(record[s]["uld"] < record[s]["alone"] for s in seeds)
        wins = "" if method == "alone" else f"{wins}/{len(seeds)}"
        seconds = statistics.mean(record[s][f"{method}_epoch_seconds"] for s in seeds)
        lines.append(f"| {label} | {statistics.mean(values):.3f} ({min(values):.3f} to {max(values):.3f}) "
                     f"| {', '.join(f'{v:.3f}' for v in values)} | {wins} | {seconds:.1f} |")
    text = "\n".join(lines)
    print(text, flush=True)
    if args.out:
        report = (f"Command: `{command_line.command('benchmarks/cross_tokenizer.py')}`\n\n{header}\n\n"
                  f"{text}\n\n```json\n{json.dumps(record, indent=1, default=str)}\n```\n")
        atomic_files.write_file(args.out, lambda staged: lm._write(staged, report))


if __name__ == "__main__":
    main()
