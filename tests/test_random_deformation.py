"""RandomDeformation (affine and elastic views from seeds) and the RandomViews layer."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.augment import RandomDeformation
from keras_distill.augment import RandomViews
from tests import testing
from tests.testing import to_numpy as _np

NO_DEFORMATION = dict(rotation=0.0, scale=0.0, shear=0.0, translation=0.0, elastic=0.0)


def _blobs(n=16, size=20, channels=1):
    """Images with one bright square each, well inside the border."""
    rng = np.random.default_rng(0)
    images = np.zeros((n, size, size, channels), "float32")
    for image in images:
        r, c = rng.integers(7, size - 9, size=2)
        image[r:r + 3, c:c + 3] = rng.random(channels) + 0.5
    return images


def test_no_deformation_is_the_identity():
    images = _blobs(channels=3)
    seeds = np.arange(16, dtype="int32") * 977
    out = _np(RandomDeformation(**NO_DEFORMATION)(images, seeds))
    np.testing.assert_allclose(out, images, atol=1e-6)


def test_views_are_a_pure_function_of_the_seed():
    images = _blobs()
    seeds = np.arange(16, dtype="int32") * 7919
    deform = RandomDeformation()
    first = _np(deform(images, seeds))
    np.testing.assert_array_equal(_np(deform(images, seeds)), first)
    assert not np.allclose(_np(deform(images, seeds + 1)), first, atol=1e-3)
    assert all(not np.allclose(a, b, atol=1e-3) for a, b in zip(first, images))
    # Flattened images with `image_shape` get the same views.
    flat = _np(RandomDeformation(image_shape=(20, 20))(images.reshape(16, -1), seeds))
    np.testing.assert_allclose(flat.reshape(first.shape), first, atol=1e-6)


def test_translation_moves_pixels_and_keeps_the_ink():
    images = _blobs()
    seeds = np.arange(16, dtype="int32") * 31
    moved = _np(RandomDeformation(**{**NO_DEFORMATION, "translation": 3.0})(images, seeds))
    # Bilinear weights sum to 1 away from the border: the ink is conserved.
    np.testing.assert_allclose(moved.sum(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3)), rtol=1e-4)

    def center(batch):
        rows = np.arange(20)[None, :, None, None]
        cols = np.arange(20)[None, None, :, None]
        total = batch.sum(axis=(1, 2, 3))
        return np.stack([(batch * rows).sum(axis=(1, 2, 3)) / total,
                         (batch * cols).sum(axis=(1, 2, 3)) / total], axis=1)

    shift = center(moved) - center(images)
    assert np.abs(shift).max() <= 3.0 + 1e-4
    assert np.abs(shift).max() > 1.0  # the draws spread over [-3, 3]


def test_rotation_turns_a_bar():
    image = np.zeros((1, 21, 21), "float32")
    image[0, 10, 3:18] = 1.0  # a horizontal bar through the center
    rotate = RandomDeformation(**{**NO_DEFORMATION, "rotation": 45.0})
    out = _np(rotate(np.repeat(image, 32, 0), np.arange(32, dtype="int32") * 101))
    # The bar stays centered and keeps its ink, but leaves its row when turned.
    np.testing.assert_allclose(out[:, 10, 10], 1.0, atol=1e-5)
    off_row = 1.0 - out[:, 10, :].sum(axis=1) / out.sum(axis=(1, 2))
    assert off_row.max() > 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(rotation=-1), "`rotation` must be a number in"), (dict(scale=1.5), "`scale`"),
     (dict(shear="10"), "`shear`"), (dict(elastic=-2), "`elastic`"), (dict(grid=0), "`grid`"),
     (dict(image_shape=(784,)), "`image_shape`")],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomDeformation(**kwargs)


def test_flattened_inputs_need_their_image_shape():
    with pytest.raises(ValueError, match="RandomDeformation needs images"):
        RandomDeformation()(np.zeros((2, 784), "float32"), np.zeros(2, "int32"))
    with pytest.raises(ValueError, match="size per sample must be 784"):
        RandomDeformation(image_shape=(28, 28))(np.zeros((2, 100), "float32"), np.zeros(2, "int32"))


def test_deformation_round_trips_through_keras_serialization():
    deform = RandomDeformation(rotation=5.0, elastic=1.5, grid=3, image_shape=(8, 8))
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(deform))
    assert isinstance(restored, RandomDeformation)
    assert restored.get_config() == deform.get_config()
    x = np.random.default_rng(1).random((4, 64)).astype("float32")
    seeds = np.arange(4, dtype="int32")
    np.testing.assert_array_equal(_np(restored(x, seeds)), _np(deform(x, seeds)))


def test_random_views_augment_in_training_only_and_save_with_the_model(tmp_path):
    x, y = testing.digits(64)
    layer = RandomViews(RandomDeformation(image_shape=(8, 8)), seed=3)
    np.testing.assert_array_equal(_np(layer(x, training=False)), x)
    first, second = _np(layer(x, training=True)), _np(layer(x, training=True))
    assert not np.allclose(first, x) and not np.allclose(first, second)
    model = keras.Sequential([keras.Input((64,)), layer, keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.layers[0]
    assert isinstance(restored, RandomViews)
    assert restored.augmentation.get_config() == layer.augmentation.get_config()
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="ViewAugmentation"):
        RandomViews(keras.layers.RandomFlip())


def test_online_deformation_shows_teacher_and_student_the_same_view():
    x, y = testing.digits(64)
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    distiller = kd.Distiller(teacher, student, augmentation=RandomDeformation(image_shape=(8, 8)))
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert max(history.history["distillation_loss"]) < 1e-6
