import keras
import numpy as np
import pytest

import keras_distill as kd


def _stack(blocks, width=8, prefix="block"):
    layers = [keras.Input((width,))]
    layers += [keras.layers.Dense(width, name=f"{prefix}_{i}") for i in range(blocks)]
    layers.append(keras.layers.Dense(3, name="head"))
    return keras.Sequential(layers)


def test_by_name_copies_matching_layers_only():
    teacher = _stack(4)
    student = _stack(2)
    student.add(keras.layers.Dense(5, name="extra"))
    teacher.add(keras.layers.Dense(7, name="extra"))
    result = kd.transfer_weights(teacher, student)
    assert result.copied == [("block_0", "block_0"), ("block_1", "block_1"), ("head", "head")]
    assert result.not_copied == ["extra"]  # same name, different shapes
    for name, _ in result.copied:
        for a, b in zip(student.get_layer(name).get_weights(), teacher.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_explicit_mapping_every_second_block():
    teacher = _stack(4)
    student = _stack(2)
    mapping = {"block_0": "block_0", "block_1": "block_2", "head": "head"}
    result = kd.transfer_weights(teacher, student, mapping=mapping)
    assert result.copied == list(mapping.items())
    assert result.not_copied == []
    np.testing.assert_array_equal(
        student.get_layer("block_1").get_weights()[0], teacher.get_layer("block_2").get_weights()[0]
    )


def test_shape_matching_pairs_unique_signatures_and_rejects_ambiguity():
    teacher = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, name="a"), keras.layers.Dense(2, name="b")]
    )
    student = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(6, name="x"), keras.layers.Dense(2, name="y")]
    )
    result = kd.transfer_weights(teacher, student, match="shape")
    assert result.copied == [("x", "a"), ("y", "b")]
    ambiguous_teacher = _stack(3)
    with pytest.raises(ValueError, match="ambiguous.*mapping"):
        kd.transfer_weights(ambiguous_teacher, _stack(2, prefix="s"), match="shape")


def test_shape_incompatible_mapping_raises_and_copies_nothing():
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, name="a")])
    student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, name="x")])
    before = student.get_weights()
    with pytest.raises(ValueError, match="`mapping`.*'x'.*'a'"):
        kd.transfer_weights(teacher, student, mapping={"x": "a"})
    for a, b in zip(before, student.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments():
    teacher, student = _stack(1), _stack(1)
    with pytest.raises(ValueError, match="`mapping` names layers.*nope"):
        kd.transfer_weights(teacher, student, mapping={"nope": "block_0"})
    with pytest.raises(ValueError, match="`match`"):
        kd.transfer_weights(teacher, student, match="order")
    with pytest.raises(TypeError, match="`teacher`"):
        kd.transfer_weights("teacher.keras", student)
