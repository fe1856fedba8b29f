"""Hinton et al. (2015) on MNIST: teacher, student alone, distilled student, shipped.

The same pipeline as `keras-distill demo` (keras_distill/demo/pipeline.py):

    python examples/mnist_hinton.py --data /path/to/mnist.npz --preset full --out runs/seed0
    python examples/mnist_hinton.py --dataset digits --out runs/digits   # offline, ~1 min

It runs the paper's setup unless told otherwise (`--teacher mlp --teaching
cached`): a 784-1200-1200-10 teacher (dropout, +-2 pixel jitter), the
784-800-800-10 student alone, then the same student distilled from cached
teacher logits at T=20 and fine-tuned; exports the student to SavedModel,
TFLite (float32 and int8) and ONNX, each verified against Keras; and writes
report.md, report.json and plots to --out. `--teacher cnn --teaching
consistent` is the demo's default on MNIST (not in the paper).

Reference:
    Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network",
    2015 (MNIST: teacher 67 test errors, student alone 146, distilled 74).
"""

import sys

import keras_distill_cli as cli

# The paper's teacher and recipe, unless the command line says otherwise.
PAPER = {"--teacher": "mlp", "--teaching": "cached"}

if __name__ == "__main__":
    argv = sys.argv[1:]
    defaults = [item for flag, value in PAPER.items() if flag not in argv for item in (flag, value)]
    sys.exit(cli.main(["demo", *defaults, *argv]))
