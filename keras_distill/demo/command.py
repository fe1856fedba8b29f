"""`keras-distill demo`: the end-to-end distillation demo from the command line."""

import sys

from keras_distill.cli_flags import as_flags


def run(args):
    """Handles `keras-distill demo`; returns the exit status."""
    from keras_distill.demo import pipeline
    from keras_distill.demo import presets
    from keras_distill.demo.data import DataError
    from keras_distill.export import ExportVerificationError

    if args.dataset == "text":
        return _run_text(args)
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


def _run_text(args):
    """`--dataset text`: keras-hub language models; the image-only flags are refused."""
    from keras_distill.demo import text_models

    given = [flag for flag, value in (("--data", args.data), ("--teacher", args.teacher),
                                      ("--teaching", args.teaching)) if value is not None]
    if given:
        print(f"keras-distill demo: error: {', '.join(given)} apply to the image datasets; "
              "--dataset text reads Python's own reference manual with its own models.",
              file=sys.stderr)
        return 2
    try:
        text_models.require_keras_hub()
    except ImportError as error:
        print(f"keras-distill demo: error: {error}", file=sys.stderr)
        return 2
    from keras_distill.demo import text_pipeline

    text_pipeline.run(preset=args.preset, out=args.out, seed=args.seed, verbose=args.verbose)
    return 0
