"""Which teacher the cached logits fed to `fit` came from, checked once per fit.

A teacher cache marks the objects it hands out (the cached arrays packed by
`cache.inputs(x)`, the dataset of `cache.dataset(...)`) with its teacher's
fingerprint. `Distiller.fit` looks the mark up on its `x` (walking back
through `shuffle`/`batch`/`map` of a `tf.data` pipeline) and fingerprints its
own teacher the same way: a cache of another teacher fails before the first
step instead of training the student on the wrong logits. The marks are
weak: they never keep an array or a dataset alive.
"""

import weakref

import keras

from keras_distill.core import packed_inputs

# id(object) -> (weak reference to it, CacheOrigin).
_MARKS = {}
# How far back through a tf.data pipeline a mark is looked for.
_MAX_PIPELINE_DEPTH = 64


class CacheOrigin:
    """The teacher fingerprint of a cache, and how to fingerprint a teacher the same way.

    Args:
        teacher_fingerprint: The cache's teacher fingerprint.
        fingerprint_of: `fingerprint_of(teacher, teacher_logits)` returns the
            fingerprint the cache would have for that teacher (same `top_k`
            and storage), where `teacher_logits` is the
            `keras_distill.core.output_logits.TeacherLogits` reading it.
        what: The cache, for messages (e.g. `"TeacherCache(samples=...)"`).
    """

    def __init__(self, teacher_fingerprint, fingerprint_of, what):
        self.teacher_fingerprint = teacher_fingerprint
        self.fingerprint_of = fingerprint_of
        self.what = what


def mark(obj, origin):
    """Marks `obj` (an array or a dataset) as coming from the cache `origin` describes."""
    key = id(obj)
    _MARKS[key] = (weakref.ref(obj, lambda _, key=key: _MARKS.pop(key, None)), origin)


def _origin_of(obj):
    entry = _MARKS.get(id(obj))
    if entry is not None and entry[0]() is obj:
        return entry[1]
    return None


def find(x):
    """The `CacheOrigin` of `fit`'s `x`, or `None` when `x` carries no marked cache."""
    if packed_inputs.is_packed(x):
        for leaf in keras.tree.flatten(packed_inputs.unpack(x)[1]):
            origin = _origin_of(leaf)
            if origin is not None:
                return origin
        return None
    pending, seen = [x], 0
    while pending and seen < _MAX_PIPELINE_DEPTH:
        dataset = pending.pop()
        seen += 1
        origin = _origin_of(dataset)
        if origin is not None:
            return origin
        inputs = getattr(dataset, "_inputs", None)
        if callable(inputs):
            try:
                pending.extend(inputs())
            except (TypeError, NotImplementedError, AttributeError):
                continue
    return None
