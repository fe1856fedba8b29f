"""`quiet_native_output`: native lines are kept while a block runs, replayed only when it fails."""

import os

import pytest

from keras_distill.core.native_output import quiet_native_output


def _native(text):
    os.write(2, text.encode())


def test_a_retry_that_succeeds_keeps_the_first_try_quiet(capfd):
    with quiet_native_output():
        with pytest.raises(RuntimeError), quiet_native_output():
            _native("error: failed to legalize operation\n")
            raise RuntimeError("first try")
        _native("second try converts\n")
    assert capfd.readouterr().err == ""


def test_a_failure_replays_every_try(capfd):
    with pytest.raises(RuntimeError), quiet_native_output():
        with pytest.raises(RuntimeError), quiet_native_output():
            _native("first try's error\n")
            raise RuntimeError("first try")
        _native("second try's error\n")
        raise RuntimeError("second try")
    err = capfd.readouterr().err
    assert "first try's error" in err and "second try's error" in err
