"""The views a training step feeds teacher and student: augmented online, or cached.

`training_outputs` is the forward pass of `Distiller.call` inside a training
step; it returns a dict under the keys below, which `loss_assembly` reads.
"""

import keras
from keras import ops

from keras_distill.augment.view_augmentation import ViewAugmentation
from keras_distill.core import cache_consistency
from keras_distill.core import packed_inputs

# Keys of what `Distiller.call` returns inside a training step.
STUDENT = "student_outputs"
TEACHER = "teacher_logits"
SHARES = "mix_shares"
PARTNERS = "mix_partners"
TEACHER_FEATURES = "teacher_features"
STUDENT_FEATURES = "student_features"


def training_outputs(distiller, inputs, cached, seeds):
    """The batch augmented and mixed once, labelled by the teacher, and the student on it.

    Args:
        distiller: The `Distiller` whose step runs.
        inputs: The batch's inputs, unpacked from any cache.
        cached: The teacher cache's fields packed with the inputs, or `None`
            (the online teacher labels the batch).
        seeds: The per-sample seeds of cached augmented views, or `None`.

    Returns:
        A dict with the student's outputs and the teacher's logits; with
        mixing also the shares and partners, with features the matched
        layers' outputs.
    """
    shares = partners = None
    if cached is not None and distiller._features is not None:
        raise ValueError(
            "Feature distillation needs the teacher's intermediate layers, which a "
            "TeacherCache does not hold: fit the Distiller with `features` on the "
            "inputs themselves (the online teacher), not on cached inputs."
        )
    if cached is None:
        if distiller.augmentation is not None:
            inputs = augment(distiller.augmentation, inputs, distiller._seed_generator)
        if distiller.mix is not None:
            inputs, shares, partners = distiller.mix(inputs, distiller._seed_generator)
        if distiller._features is not None:
            return _with_features(distiller, inputs, shares, partners)
        teacher_logits = distiller.teacher_logits(inputs)
    elif seeds is not None:
        inputs, teacher_logits = cached_view(distiller, inputs, cached, seeds)
    else:
        check_no_augmentation_with_cache(distiller.augmentation, distiller.mix)
        cache_consistency.warn_if_augmented(distiller.student)
        teacher_logits = packed_inputs.cached_teacher_logits(cached)
    outputs = {
        STUDENT: distiller.student(inputs, training=True),
        TEACHER: teacher_logits,
    }
    if shares is not None:
        outputs[SHARES], outputs[PARTNERS] = shares, partners
    return outputs


def _with_features(distiller, inputs, shares, partners):
    """One teacher pass and one student pass, recording the matched layers."""
    features = distiller._features
    with features.record("teacher") as recording:
        teacher_logits = distiller.teacher_logits(inputs)
    teacher_features = features.teacher_features(recording, teacher_logits)
    with features.record("student") as recording:
        student_outputs = distiller.student(inputs, training=True)
    student_features = features.student_features(
        recording, distiller.student_logits(student_outputs)
    )
    outputs = {
        STUDENT: student_outputs,
        TEACHER: teacher_logits,
        TEACHER_FEATURES: teacher_features,
        STUDENT_FEATURES: student_features,
    }
    if shares is not None:
        outputs[SHARES], outputs[PARTNERS] = shares, partners
    return outputs


def augment(augmentation, inputs, seed_generator):
    """Applies a Distiller's `augmentation` once to a batch.

    A `ViewAugmentation` gets one fresh seed per sample; a Keras layer runs
    in training mode; anything else is called on the batch.
    """
    if isinstance(augmentation, ViewAugmentation):
        batch = ops.shape(keras.tree.flatten(inputs)[0])[0]
        seeds = keras.random.randint((batch,), 0, 2**31 - 1, seed=seed_generator, dtype="int32")
        return augmentation(inputs, seeds)
    if isinstance(augmentation, keras.layers.Layer):
        return augmentation(inputs, training=True)
    return augmentation(inputs)


def cached_view(distiller, inputs, cached, seeds):
    """Picks one cached view per sample, rebuilds it, and returns it with its logits."""
    if not isinstance(distiller.augmentation, ViewAugmentation) or distiller.mix is not None:
        raise ValueError(
            "`x` carries a TeacherCache of augmented views: build the Distiller with "
            "the cache's augmentation (`augmentation=cache.augmentation`, a "
            "ViewAugmentation) and without `mix`, so the student sees the very view "
            f"each cached logit belongs to. Received augmentation={distiller.augmentation!r}, "
            f"mix={distiller.mix!r}."
        )
    all_outputs = packed_inputs.cached_teacher_logits(cached)
    views = seeds.shape[-1]
    batch = ops.shape(seeds)[0]
    chosen = ops.one_hot(
        keras.random.randint((batch,), 0, views, seed=distiller._seed_generator), views
    )

    def pick(values):
        shape = (-1, views) + (1,) * (len(values.shape) - 2)
        return ops.sum(values * ops.reshape(ops.cast(chosen, values.dtype), shape), axis=1)

    # Dense logits or each field of a top-k cache (ids included: one view is 1, the rest 0).
    logits = keras.tree.map_structure(pick, all_outputs)
    seed = ops.sum(ops.cast(seeds, "int32") * ops.cast(chosen, "int32"), axis=1)
    return distiller.augmentation(inputs, seed), logits


def check_no_augmentation_with_cache(augmentation, mix):
    """Raises when a Distiller that augments or mixes meets plain cached logits."""
    if augmentation is not None or mix is not None:
        raise ValueError(
            "This Distiller augments or mixes each batch (`augmentation`/`mix`), "
            "but `x` carries cached teacher logits, which belong to the "
            "un-augmented inputs. Pass the plain inputs (the teacher then labels "
            "every augmented view), or build the Distiller without "
            "`augmentation`/`mix`. (A `TeacherCache.view_dataset` already holds the "
            "augmented views: fit a Distiller without `augmentation` on it.)"
        )
