"""Per-instance replacements of layers' `call`, undone on exit."""

import contextlib

_MISSING = object()


@contextlib.contextmanager
def replaced_calls(replacements):
    """Within the block each layer runs the given function as its `call`.

    The function is set on the instance (the class is untouched); on exit,
    even after an error, each layer gets back the `call` it had before (its
    class's, or an instance attribute set earlier).

    Args:
        replacements: `(layer, call)` pairs; read lazily, one pair at a time,
            so a pair may wrap the `call` that the layer has at that point.
    """
    patched = []
    try:
        for layer, call in replacements:
            previous = layer.__dict__.get("call", _MISSING)
            object.__setattr__(layer, "call", call)
            patched.append((layer, previous))
        yield
    finally:
        for layer, previous in reversed(patched):
            if previous is _MISSING:
                object.__delattr__(layer, "call")
            else:
                object.__setattr__(layer, "call", previous)
