"""On JAX and PyTorch, distilling never imports TensorFlow, even where it is installed.

TensorFlow costs seconds of import time and hundreds of MiB on backends that
never use it. This process has TensorFlow loaded already (tests/conftest.py
sets up logical devices with it), so the run happens in a child process
(`tests/no_tensorflow_child.py`) that records every attempt to load it.
"""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.not_tensorflow]


def test_fit_on_a_cache_with_phases_evaluate_and_predict_never_import_tensorflow(tmp_path):
    backend = keras.backend.backend()
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(
        [sys.executable, "-m", "tests.no_tensorflow_child"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    assert report["imports"] == [], "TensorFlow was imported from:\n" + "\n".join(report["imports"])
