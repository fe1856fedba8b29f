"""JAX distribution on virtual CPU devices (DataParallel, ModelParallel) gives one device's weights."""

import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = [pytest.mark.jax_only, pytest.mark.slow]


def _train(devices, mode, tmp_path):
    out = tmp_path / f"{mode}_{devices}.npy"
    process = subprocess.run(
        [sys.executable, "-m", "tests.data_parallel_child", str(devices), mode, str(out)],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return np.load(out)


@pytest.mark.parametrize("mode", ["online", "features", "cached", "mix", "model_parallel"])
def test_data_parallel_matches_one_device(tmp_path, mode):
    one = _train(1, mode, tmp_path)
    four = _train(4, mode, tmp_path)
    # Same global batch, same steps: the replicas' gradients sum to one device's.
    np.testing.assert_allclose(four, one, atol=1e-6)
