"""Silences what native libraries print on stdout/stderr (converters, runtimes).

The TFLite converter prints its settings ("fully_quantize: 0, ...") and
LiteRT announces its XNNPACK delegate from C++, past Python's `sys.stdout`;
only redirecting the process's file descriptors reaches them. What was
printed is kept and written to stderr when the block raises, so an error
never loses its native explanation.
"""

import contextlib
import os
import sys
import tempfile

# Blocks open around the current one: a nested block that fails hands its
# text to the enclosing one, which replays it only if it fails too (a retry
# that succeeds stays quiet).
_open_blocks = []


@contextlib.contextmanager
def quiet_native_output():
    """Runs the block with file descriptors 1 and 2 sent to a temporary file."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = (os.dup(1), os.dup(2))
    except OSError:  # No real descriptors (embedded interpreters): nothing to silence.
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 1)
        os.dup2(captured.fileno(), 2)
        failed = False
        _open_blocks.append(captured)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            _open_blocks.pop()
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if failed:
                captured.seek(0)
                data = captured.read()
                if _open_blocks:
                    os.write(_open_blocks[-1].fileno(), data)
                elif data.strip():
                    sys.stderr.write(data.decode("utf-8", "replace"))
