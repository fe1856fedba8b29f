"""The `keras-distill` command line: one subcommand per registered command."""

import argparse

from keras_distill.demo import command as demo_command
from keras_distill.export import command as export_command

# Each entry adds one subcommand to the parser and sets its handler.
COMMANDS = (demo_command.add_parser, export_command.add_parser)


def build_parser():
    """The argument parser with every subcommand of `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="keras-distill",
        description="Knowledge distillation for Keras 3: ship the student.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    return parser


def main(argv=None):
    """Runs `keras-distill` with `argv` (defaults to `sys.argv[1:]`).

    Returns:
        The exit status: `0` on success, `1` when an export fails
        verification, `2` for bad arguments (argparse exits with `2` itself
        for malformed command lines).
    """
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
