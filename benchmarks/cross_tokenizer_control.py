"""Shape control for ULD: benchmarks/results/cross_tokenizer_control.md.

ULD compares sorted probabilities, so the only thing it passes from the
teacher is the shape of its distribution at each position (how confident it
is there), not which token. This control trains the student with the same
`ULDLoss` and setting as benchmarks/cross_tokenizer.py, against a cache
that holds one and the same shape at every position: the byte teacher's
sorted probabilities averaged over all training positions. If the control
helps as much as the real teacher, the gain is a fixed confidence target,
not the teacher's per-position knowledge. Needs the teacher that
cross_tokenizer.py saved with `--teacher-weights`.

    python benchmarks/cross_tokenizer_control.py --teacher-weights PATH --alpha 0.8 --temperature 1
"""

import argparse
import json
import math
import os

import command_line
import cross_tokenizer as ct
import keras
import keras_hub
import language_models as lm
import numpy as np

import keras_distill as kd
from keras_distill.core import atomic_files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-weights", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-sequences", type=int, default=1200)
    parser.add_argument("--validation", type=int, default=150)
    parser.add_argument("--teacher-layers", type=int, default=2)
    parser.add_argument("--teacher-width", type=int, default=96)
    parser.add_argument("--teacher-length", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--alpha", type=float, default=0.8)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    vocabulary, merges = lm.train_bpe(lm.source(lm.TRAIN_MODULES), 700)
    tokenizer = keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(tokenizer, sequence_length=lm.SEQUENCE_LENGTH)
    sampled = lm.texts(lm.TRAIN_MODULES)
    order = np.random.default_rng(0).permutation(len(sampled))[:args.train_sequences]
    train_rows = [sampled[i] for i in sorted(order[args.validation:])]  # as cross_tokenizer.py
    x_train, y_train, w_train = lm.tokenize(preprocessor, train_rows)
    x_test, y_test, w_test = lm.tokenize(preprocessor, lm.texts(lm.TEST_MODULES))
    teacher = ct.byte_teacher(args.teacher_length, 0, args.teacher_layers, args.teacher_width)
    teacher.load_weights(args.teacher_weights)
    aligned = kd.teachers.AlignedTeacher(
        teacher, tokenizer, ct.Bytes(), sequence_length=lm.SEQUENCE_LENGTH,
        teacher_sequence_length=args.teacher_length, teacher_start_id=ct.START_ID,
    )
    cache = kd.TeacherCache.compute(aligned, x_train, batch_size=64)
    logits = cache.dense_logits().astype(np.float64)
    valid = w_train > 0
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    shape = -np.sort(-probabilities[valid], axis=-1).mean(0)
    constant = np.broadcast_to(np.log(np.maximum(shape, 1e-30)).astype("float32"), logits.shape).copy()
    control = kd.TeacherCache(constant, cache.fingerprint)
    record = {"entropy_of_mean_shape_nats": float(-(shape * np.log(np.maximum(shape, 1e-30))).sum())}

    vocabulary_size = tokenizer.vocabulary_size()
    steps = args.epochs * math.ceil(len(y_train) / args.batch_size)
    for seed in args.seeds:
        student = lm.seeded_students(vocabulary_size, seed)

        alone = student()
        alone.compile(lm._optimizer(steps, args.learning_rate), lm.LOSS, weighted_metrics=[])
        alone.fit(x_train, y_train, sample_weight=w_train, batch_size=args.batch_size,
                  epochs=args.epochs, verbose=0)
        record[seed] = {"alone": lm.perplexity(alone, x_test, y_test, w_test)}
        for name, source in (("uld", cache), ("uld_constant_shape", control)):
            model = student()
            distiller = kd.Distiller(aligned, model)
            distiller.compile(optimizer=lm._optimizer(steps, args.learning_rate), student_loss_fn=lm.LOSS,
                              distillation_loss_fn=kd.losses.ULDLoss(), alpha=args.alpha,
                              temperature=args.temperature)
            distiller.fit(source.inputs(x_train), y_train, sample_weight=w_train,
                          batch_size=args.batch_size, epochs=args.epochs, verbose=0)
            record[seed][name] = lm.perplexity(model, x_test, y_test, w_test)
        print(seed, record[seed], flush=True)
    lines = ["| seed | alone | ULD, byte teacher | ULD, constant shape |", "|---|---:|---:|---:|"]
    lines += [f"| {s} | {record[s]['alone']:.3f} | {record[s]['uld']:.3f} "
              f"| {record[s]['uld_constant_shape']:.3f} |" for s in args.seeds]
    text = "\n".join(lines)
    print(text)
    if args.out:
        report = (f"Command: `{command_line.command('benchmarks/cross_tokenizer_control.py')}`\n\n"
                  f"Machine: {os.cpu_count()} CPU cores; Keras backend {keras.backend.backend()}. "
                  f"Held-out perplexity per BPE token (test text).\n\n{text}\n\n"
                  f"```json\n{json.dumps(record, indent=1, default=str)}\n```\n")
        atomic_files.write_file(args.out, lambda staged: lm._write(staged, report))


if __name__ == "__main__":
    main()
