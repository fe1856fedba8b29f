"""`keras-distill demo`: the end-to-end distillation demo from the command line."""

import sys

from keras_distill.cli_flags import as_flags


def add_parser(subparsers):
    """Registers the `demo` subcommand on an argparse `subparsers`."""
    from keras_distill.demo import presets

    parser = subparsers.add_parser(
        "demo",
        help="Distil MNIST as Hinton et al. (2015), export the student, write a report.",
        description=(
            "Train a teacher (784-1200-1200-10, dropout, jitter), the student alone "
            "(784-800-800-10) and the distilled student (cached teacher outputs, T=20, "
            "then fine-tuning); export the student to SavedModel, TFLite int8 and ONNX "
            "with verification; write report.md, report.json and plots to --out. "
            "--teacher cnn swaps in a small convolutional teacher (not in the paper)."
        ),
    )
    parser.add_argument("--dataset", choices=presets.DATASETS, default="mnist",
                        help="digits runs offline on scikit-learn's 8x8 digits, scaled down.")
    parser.add_argument("--data", metavar="PATH",
                        help="A local mnist.npz (x_train, y_train, x_test, y_test); default: "
                        "keras.datasets.mnist.load_data().")
    parser.add_argument("--preset", choices=presets.PRESETS, default="quick",
                        help="quick: a few epochs (<= 5 min on 2 cores); full: the "
                        "reproduction (<= 30 min).")
    parser.add_argument("--teacher", choices=presets.TEACHERS, default="mlp",
                        help="mlp: the paper's 784-1200-1200-10 teacher; cnn: a small "
                        "convolutional teacher (MNIST only, not in the paper).")
    parser.add_argument("--teaching", choices=presets.TEACHINGS, default=None,
                        help="consistent: the online teacher labels every augmented batch "
                        "the student sees (Beyer et al. 2022; default for digits); cached: "
                        "the student learns cached logits of the plain images, then "
                        "fine-tunes (Hinton et al. 2015; default for mnist).")
    parser.add_argument("--out", default="keras_distill_demo", help="Output folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="0 silent, 1 a line every tenth of the epochs, 2 one line per epoch.")
    parser.set_defaults(handler=run)
    return parser


def run(args):
    """Handles `keras-distill demo`; returns the exit status."""
    from keras_distill.demo import pipeline
    from keras_distill.demo import presets
    from keras_distill.demo.data import DataError
    from keras_distill.export import ExportVerificationError

    try:
        presets.recipe(args.dataset, args.preset, args.teacher, args.teaching)
    except ValueError as error:
        print(f"keras-distill demo: error: {as_flags(error)}", file=sys.stderr)
        return 2
    try:
        pipeline.run(dataset=args.dataset, data=args.data, preset=args.preset, out=args.out,
                     seed=args.seed, verbose=args.verbose, teacher=args.teacher,
                     teaching=args.teaching)
    except DataError as error:
        print(f"keras-distill demo: error: {error}", file=sys.stderr)
        return 2
    except ExportVerificationError as error:
        print(f"keras-distill demo: error: {as_flags(error)}", file=sys.stderr)
        return 1
    return 0
