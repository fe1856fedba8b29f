"""The views a training step feeds teacher and student: augmented online, or cached."""

import keras
from keras import ops

from keras_distill.augment.view_augmentation import ViewAugmentation
from keras_distill.core import packed_inputs


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
            "`augmentation`/`mix`."
        )
