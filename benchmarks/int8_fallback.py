"""int8 with `fallback="auto"`: agreement with Keras on samples neither the search nor verification saw.

A Conv1D + LayerNormalization classifier on scikit-learn's digits (each image
as 8 steps of 8 features). Calibration on 200 samples, `sample_inputs` 700
more, the remaining 297 held out. Prints, per seed, the agreement the export
reports, the agreement on the held-out samples, and the layers kept in float.

Run: python benchmarks/int8_fallback.py [--seeds 0 1 2]
"""

import argparse
import os
import sys
import tempfile

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_distill  # noqa: E402
from keras_distill.export import runtimes  # noqa: E402
from keras_distill.export import signature  # noqa: E402
from tests.testing import digits  # noqa: E402


def _model(seed, x, y):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8))
    h = keras.layers.Conv1D(32, 3, padding="same", name="conv1")(inputs)
    h = keras.layers.ReLU()(keras.layers.LayerNormalization(name="layer_norm1")(h))
    h = keras.layers.Conv1D(32, 3, padding="same", name="conv2")(h)
    h = keras.layers.ReLU()(keras.layers.LayerNormalization(name="layer_norm2")(h))
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    x, y = digits()
    x = x.reshape(-1, 8, 8)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    train, calibration, samples, held_out = x[:600], x[600:800], x[800:1500], x[1500:]
    print("| seed | reported agreement (samples) | held-out agreement (297) | float layers |")
    print("|---|---|---|---|")
    for seed in args.seeds:
        model = _model(seed, train, y[:600])
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "m.tflite")
            try:
                result = keras_distill.export_tflite(
                    model, path, quantization="int8", representative_data=calibration,
                    sample_inputs=samples, fallback="auto",
                )
            except keras_distill.ExportVerificationError as error:
                print(f"| {seed} | refused: {error.result.agreement:.2%} "
                      f"({error.result.num_samples}) | | {error.result.float_layers} |")
                continue
            outputs = runtimes.tflite_runner(path, signature.input_specs(model))([held_out])[0]
        expected = keras.ops.convert_to_numpy(model(held_out))
        agreement = np.mean(np.argmax(outputs, -1) == np.argmax(expected, -1))
        print(f"| {seed} | {result.agreement:.2%} ({result.num_samples}) | {agreement:.2%} | "
              f"{result.float_layers} |")


if __name__ == "__main__":
    main()
