"""LoRA students: only the low-rank adapters train, and they survive a `.keras` round trip.

`backbone.enable_lora(rank)` (keras-hub) freezes every layer except the
targeted attention projections, and in those it freezes the kernel but not the
bias: GPT-2's query and value biases would still train. `lora_student` freezes
them too, so the student trains its LoRA factors and nothing else.

Keras writes a LoRA layer's kernel merged with its adapters (`kernel + B A`)
and a keras-hub backbone's config does not record LoRA, so a reloaded student
is a plain model with merged kernels. The Distiller records the student's LoRA
in its config (`lora_config`) and enables it again on loading
(`restore_lora`); Keras then loads the merged kernel and zeroes both factors,
which would leave them without gradient, so `revive` draws new `A` factors
before training continues: the same function, new adapters on top of it.
"""

import keras
from keras import ops

from keras_distill.lm_hooks import causal_lm

_FACTORS = ("lora_kernel_a", "lora_kernel_b")


def lora_student(student, rank, target_layer_names=None):
    """Enables LoRA on a keras-hub `CausalLM` student and freezes everything else.

    Calls `student.backbone.enable_lora(rank, target_layer_names)`, then marks
    every other variable of the student non-trainable, biases of the adapted
    layers included (keras-hub leaves those trainable). Distilling the student
    afterwards updates its LoRA factors only.

    Args:
        student: A `keras_hub.models.CausalLM`.
        rank: The rank of the LoRA factors, an int > 0.
        target_layer_names: Names of the layers to adapt. Defaults to `None`
            (keras-hub's `backbone.default_lora_layer_names()`: the attention
            query and value projections).

    Returns:
        The student, modified in place.

    Example:

    ```python
    student = keras_distill.language.lora_student(student, rank=4)
    distiller = keras_distill.Distiller(teacher, student)
    ```

    Reference:
        Hu, Shen, Wallis, Allen-Zhu, Li, Wang, Wang and Chen, "LoRA: Low-Rank
        Adaptation of Large Language Models", ICLR 2022.
    """
    if not causal_lm.is_causal_lm(student):
        raise TypeError(
            "`student` must be a keras_hub.models.CausalLM (its backbone enables LoRA). "
            f"Received a {type(student).__name__}."
        )
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise ValueError(f"`rank` must be an int > 0. Received: rank={rank!r}.")
    student.backbone.enable_lora(rank, target_layer_names=target_layer_names)
    for variable in student.trainable_variables:
        if not _is_factor(variable):
            variable.trainable = False
    return student


def lora_config(student):
    """The student's LoRA as a config dict (`None` without LoRA).

    `{"rank": ..., "target_layer_names": [...], "lora_only": bool}`; `lora_only`
    says that nothing but the LoRA factors trains (as after `lora_student`).
    """
    if not causal_lm.is_causal_lm(student):
        return None
    factors = [v for v in student.variables if _is_factor(v)]
    if not factors:
        return None
    ranks = {int(v.shape[-1]) for v in factors if _name(v) == _FACTORS[0]}
    names = sorted({_layer_name(v) for v in factors})
    return {
        "rank": ranks.pop() if len(ranks) == 1 else sorted(ranks),
        "target_layer_names": names,
        "lora_only": all(_is_factor(v) for v in student.trainable_variables),
    }


def restore_lora(student, config):
    """Enables LoRA on a freshly built student as `lora_config` recorded it."""
    if not config:
        return
    rank = config["rank"]
    if not isinstance(rank, int):
        raise ValueError(
            f"The saved student has LoRA of several ranks {rank}; keras-hub enables one "
            "rank per backbone, so it cannot be rebuilt."
        )
    if config.get("lora_only"):
        lora_student(student, rank, config["target_layer_names"])
    else:
        student.backbone.enable_lora(rank, target_layer_names=config["target_layer_names"])


def revive(student):
    """Draws new `A` factors where both LoRA factors are zero (after a `.keras` load).

    Returns:
        The number of adapters revived.
    """
    by_layer = {}
    for variable in student.variables:
        if _is_factor(variable):
            by_layer.setdefault(variable.path.rsplit("/", 1)[0], {})[_name(variable)] = variable
    revived = 0
    initializer = keras.initializers.HeUniform()
    for factors in by_layer.values():
        a, b = factors.get(_FACTORS[0]), factors.get(_FACTORS[1])
        if a is None or b is None:
            continue
        if bool(ops.all(ops.equal(a.value, 0))) and bool(ops.all(ops.equal(b.value, 0))):
            a.assign(initializer(a.shape, dtype=a.dtype))
            revived += 1
    return revived


def _name(variable):
    return variable.path.rsplit("/", 1)[-1]


def _layer_name(variable):
    return variable.path.rsplit("/", 2)[-2]


def _is_factor(variable):
    return _name(variable) in _FACTORS
