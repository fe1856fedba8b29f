"""`keras-distill demo`: the end-to-end distillation demo from the command line."""

import sys

from keras_distill.cli_flags import as_flags


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
