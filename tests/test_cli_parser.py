"""The `keras-distill` parser: light to import, and in step with what the handlers accept."""

import importlib
import subprocess
import sys

import pytest

import keras_distill_cli
from keras_distill.demo import presets
from keras_distill.demo import text_models


@pytest.mark.slow
def test_help_imports_no_keras():
    # A fresh interpreter: in this one the test session has imported Keras already.
    code = (
        "import sys, contextlib, io\n"
        "import keras_distill_cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        keras_distill_cli.main(['export', '--help'])\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, stop.code\n"
        "assert '--representative-data' in out.getvalue()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('keras', 'tensorflow', 'jax', 'numpy', 'keras_distill')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_choices_match_the_handlers():
    assert keras_distill_cli.DATASETS == presets.DATASETS + text_models.DATASETS
    assert keras_distill_cli.PRESETS == presets.PRESETS == text_models.PRESETS
    assert keras_distill_cli.TEACHERS == presets.TEACHERS
    assert keras_distill_cli.TEACHINGS == presets.TEACHINGS
    exporters = importlib.import_module("keras_distill.export.export")
    assert keras_distill_cli.FORMATS == exporters.available_formats


@pytest.mark.parametrize("command", ["demo", "export"])
def test_each_command_names_an_importable_handler(command):
    argv = [command, "model.keras", "--out", "x"] if command == "export" else [command]
    args = keras_distill_cli.build_parser().parse_args(argv)
    module = importlib.import_module(args.handler)
    assert callable(module.run)


def test_bad_choice_exits_2_before_importing_anything(capsys):
    with pytest.raises(SystemExit) as stop:
        keras_distill_cli.main(["demo", "--preset", "slow"])
    assert stop.value.code == 2
    assert "invalid choice: 'slow'" in capsys.readouterr().err


def test_backend_info_lines_are_dropped_and_the_rest_kept(tmp_path, monkeypatch, capfd):
    # What TensorFlow 2.21 writes from C++ at import, past TF_CPP_MIN_LOG_LEVEL.
    (tmp_path / "noisy_handler.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:17.7 10671 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'To enable the following instructions: AVX2 FMA, rebuild TensorFlow.\\n')\n"
        "os.write(2, b'E0000 00:00:17.9 10671 cuda_platform.cc:52] failed call to cuInit\\n')\n"
        "os.write(2, b'noisy_handler.py:6: UserWarning: kept warning\\n')\n"
        "run = print\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = keras_distill_cli._import_quietly("noisy_handler")
    assert module.run is print
    err = capfd.readouterr().err
    assert "oneDNN" not in err and "AVX2" not in err and "InitializeLog" not in err
    assert "failed call to cuInit" in err and "kept warning" in err
