import math

import keras
import pytest

import keras_distill as kd
from keras_distill import schedules

CASES = [
    (schedules.Constant(2.5), {0: 2.5, 7: 2.5, 1000: 2.5}),
    (
        schedules.Linear(start=8.0, end=2.0, steps=4),
        {0: 8.0, 1: 8.0 - 6.0 / 4, 2: 5.0, 4: 2.0, 9: 2.0},
    ),
    (
        schedules.Cosine(start=4.0, end=1.0, steps=6),
        {
            0: 4.0,
            2: 1.0 + 3.0 * 0.5 * (1 + math.cos(math.pi / 3)),
            3: 2.5,
            6: 1.0,
            10: 1.0,
        },
    ),
    (schedules.Exponential(start=8.0, rate=0.5), {0: 8.0, 1: 4.0, 3: 1.0, 5: 0.25}),
    (schedules.Exponential(start=8.0, rate=0.5, limit=1.5), {2: 2.0, 3: 1.5, 30: 1.5}),
    (schedules.Exponential(start=1.0, rate=2.0, limit=5.0), {2: 4.0, 3: 5.0}),
    (
        schedules.Piecewise(boundaries=[2, 5], values=[4.0, 2.0, 1.0]),
        {0: 4.0, 1: 4.0, 2: 2.0, 4: 2.0, 5: 1.0, 99: 1.0},
    ),
    (
        schedules.Warmup(schedules.Linear(4.0, 0.0, steps=4), warmup_steps=2, start=1.0),
        {0: 1.0, 1: 2.5, 2: 4.0, 3: 3.0, 6: 0.0},
    ),
    (schedules.Warmup(3.0, warmup_steps=3), {0: 0.0, 1: 1.0, 3: 3.0, 8: 3.0}),
]


@pytest.mark.parametrize("schedule,expected", CASES, ids=lambda c: repr(c)[:40])
def test_values_at_chosen_steps(schedule, expected):
    for step, value in expected.items():
        assert schedule(step) == pytest.approx(value, abs=1e-12), step
        assert isinstance(schedule(step), float)


@pytest.mark.parametrize("schedule,expected", CASES, ids=lambda c: repr(c)[:40])
def test_config_round_trip(schedule, expected):
    config = keras.saving.serialize_keras_object(schedule)
    assert config["registered_name"].startswith("keras_distill>")
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    for step in list(expected) + [11, 123]:
        assert restored(step) == schedule(step)


@pytest.mark.parametrize(
    "build,argument",
    [
        (lambda: schedules.Constant("4"), "value"),
        (lambda: schedules.Linear(1.0, float("nan"), 3), "end"),
        (lambda: schedules.Linear(1.0, 0.0, 0), "steps"),
        (lambda: schedules.Cosine(1.0, 0.0, 2.5), "steps"),
        (lambda: schedules.Exponential(1.0, 0.0), "rate"),
        (lambda: schedules.Exponential(1.0, 0.5, limit=True), "limit"),
        (lambda: schedules.Piecewise([3, 3], [1.0, 2.0, 3.0]), "boundaries"),
        (lambda: schedules.Piecewise([0], [1.0, 2.0]), "boundaries[0]"),
        (lambda: schedules.Piecewise([2], [1.0]), "values"),
        (lambda: schedules.Piecewise(2, [1.0]), "boundaries"),
        (lambda: schedules.Warmup(schedules.Constant(1.0), warmup_steps=0), "warmup_steps"),
        (lambda: schedules.Warmup("fast", warmup_steps=2), "schedule"),
    ],
)
def test_bad_arguments_name_the_argument(build, argument):
    with pytest.raises(ValueError, match=f"`{argument}`".replace("[", r"\[").replace("]", r"\]")):
        build()


@pytest.mark.parametrize("step", [-1, 1.5, True])
def test_step_must_be_a_non_negative_int(step):
    with pytest.raises(ValueError, match="`step`"):
        schedules.Linear(1.0, 0.0, 4)(step)


def test_get_accepts_numbers_schedules_configs_and_callables():
    assert schedules.get(3).get_config() == {"value": 3.0}
    linear = schedules.Linear(2.0, 1.0, 2)
    assert schedules.get(linear) is linear
    assert schedules.get(keras.saving.serialize_keras_object(linear))(1) == 1.5

    def halve(epoch):
        return 1.0 / (epoch + 1)

    assert schedules.get(halve) is halve
    assert schedules.Warmup(halve, warmup_steps=1)(2) == 0.5
    assert kd.schedules is schedules
