"""The Distiller's trainable set: a frozen teacher, and layers frozen between builds.

`FrozenTeacherVariables` keeps the teacher's variables out of the
Distiller's trainable set without touching the teacher's own `trainable`
flags, and notes the trainable set each train function was built for, so
that `fit` rebuilds the step when a layer was frozen or unfrozen since
(a `PhaseScheduler` phase with `trainable=`, or a layer frozen by hand).

The rest lets the backends' steps run on a changed set. Keras's JAX step
hands `optimizer.stateless_apply` the values of the model's *current*
trainable variables and requires them to match, one to one, the list
the optimizer was built with. A student with a frozen layer has fewer, so
the stock step raises. TensorFlow's and torch's steps call
`optimizer.apply(grads, variables)` with the subset, which Keras supports.

`subset_apply` makes the JAX step do the same: while the step is traced, the
optimizer's `stateless_apply` receives the full built list, the frozen
variables with their current values (taken from the step's non-trainable
state, so nothing is read from the purged variables) and no gradient, which
Keras's optimizers skip (their slots keep their values). The trainable values
are handed back in the trainer's order. Nothing changes where the lists
already match, or on the other backends.
"""

import contextlib
import warnings
import weakref

import keras


class FrozenTeacherVariables:
    """Mixed into the Distiller before `keras.Model`: the teacher never trains.

    The teacher stays out of training without its `trainable` flag being
    touched: the user's teacher keeps its own flags, and saving or
    fine-tuning it later behaves as before the Distiller existed. Its
    variables are the Distiller's non-trainable state.
    """

    # The ids of the teacher's variables, and the ids of the trainable
    # variables, as of the last build of the train function.
    _teacher_ids = None
    _trained_variables = None

    def _teacher_variable_ids(self):
        # Kept per build of the train function: without `jit_compile`, the
        # JAX trainer looks the trainable variables up several times a step.
        if self._teacher_ids is not None:
            return self._teacher_ids
        return frozenset(id(v) for v in self.teacher.variables)

    @property
    def trainable_weights(self):
        # Keras's own list, less the teacher's, written out: torch.compile
        # cannot read a property through `super()` and would run the whole
        # step eagerly.
        if not self.trainable:
            return []
        teacher = self._teacher_variable_ids()
        return [v for v in self.weights if v.trainable and id(v) not in teacher]

    @property
    def trainable_variables(self):
        if not self.trainable:
            return []
        teacher = self._teacher_variable_ids()
        return [v for v in self.variables if v.trainable and id(v) not in teacher]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return super().non_trainable_weights
        teacher = self._teacher_variable_ids()
        return [v for v in self.weights if not v.trainable or id(v) in teacher]

    @property
    def non_trainable_variables(self):
        if not self.trainable:
            return super().non_trainable_variables
        teacher = self._teacher_variable_ids()
        return [v for v in self.variables if not v.trainable or id(v) in teacher]

    def _trainable_ids(self):
        return tuple(id(v) for v in self.trainable_variables)

    def _drop_stale_train_function(self):
        """Before `fit`: forgets a train function built for another trainable set."""
        if self._trained_variables != self._trainable_ids():
            # Layers were frozen or unfrozen since the step was built (plain
            # Keras would need another `compile`): build it again.
            self.train_function = None

    def _note_train_function_build(self):
        """While a train function is built: records the set it trains."""
        self._teacher_ids = None  # look at the teacher afresh for this build
        self._teacher_ids = self._teacher_variable_ids()
        trainable = self._trainable_ids()
        if self._trained_variables not in (None, trainable):
            # On JAX the evaluation and prediction steps also map their
            # state to the trainable variables of their build.
            self.test_function = self.predict_function = None
        self._trained_variables = trainable

@contextlib.contextmanager
def subset_apply(model, step_args):
    """Within a JAX `train_step(state, data)`, lets the optimizer skip frozen variables."""
    optimizer = getattr(model, "optimizer", None)
    if keras.backend.backend() != "jax" or optimizer is None or not optimizer.built:
        yield
        return
    plan = _subset_plan(model, optimizer)
    if plan is None:
        yield
        return
    non_trainable_values = step_args[0][1]
    subset_apply = _SubsetApply(optimizer.stateless_apply, plan, non_trainable_values)
    with _instance_attribute(optimizer, "stateless_apply", subset_apply):
        yield


# Per model: (train function, optimizer, plan). Without `jit_compile` the JAX
# step runs in Python on every batch; the variable lists only change when the
# train function is rebuilt (a frozen or unfrozen layer rebuilds it).
_plans = weakref.WeakKeyDictionary()


def _subset_plan(model, optimizer):
    """The `_SubsetPlan` of the current train function, or None where the lists match."""
    train_function = getattr(model, "train_function", None)
    cached = _plans.get(model)
    if train_function is not None and cached is not None:
        if cached[0] is train_function and cached[1] is optimizer:
            return cached[2]
    trainable = model.trainable_variables
    built = optimizer._trainable_variables
    if [id(v) for v in trainable] == [id(v) for v in built]:
        plan = None
    else:
        plan = _SubsetPlan(built, trainable, model.non_trainable_variables)
    if train_function is not None:
        _plans[model] = (train_function, optimizer, plan)
    return plan


@contextlib.contextmanager
def finalize_over_built(model):
    """Within `fit`, lets the EMA optimizers' final overwrite cover frozen variables too.

    When `fit` ends, Keras calls `optimizer.finalize_variable_values(
    model.trainable_weights)`; with `use_ema=True` the optimizer requires that
    list to be the one it was built with, which a frozen layer shortens. The
    built list is passed instead (a frozen variable's average is its value).
    """
    optimizer = getattr(model, "optimizer", None)
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    if optimizer is None or not getattr(inner, "use_ema", False):
        yield
        return
    stock_finalize = optimizer.finalize_variable_values

    def finalize_variable_values(var_list):
        built = getattr(inner, "_trainable_variables", None)
        return stock_finalize(built if inner.built and built else var_list)

    with _instance_attribute(optimizer, "finalize_variable_values", finalize_variable_values):
        yield


@contextlib.contextmanager
def _instance_attribute(owner, name, value):
    """Sets `owner.name` for the block, then restores what the instance had."""
    had_own = name in vars(owner)
    previous = vars(owner).get(name)
    object.__setattr__(owner, name, value)
    try:
        yield
    finally:
        if had_own:
            object.__setattr__(owner, name, previous)
        else:
            object.__delattr__(owner, name)


class _SubsetPlan:
    """Where each variable of the optimizer's built list comes from in a step."""

    def __init__(self, built, trainable, non_trainable):
        position = {id(v): i for i, v in enumerate(trainable)}
        frozen = {id(v): i for i, v in enumerate(non_trainable)}
        built_ids = {id(b) for b in built}
        unknown = [v.path for v in trainable if id(v) not in built_ids]
        if unknown:
            raise ValueError(
                f"Variables {unknown} are trainable, but the optimizer was not built "
                "with them: Keras optimizers only update the variables they were "
                "built with. Build the optimizer over every variable that can train "
                "(`optimizer.build(student.trainable_variables)` with every layer "
                "trainable) before freezing layers."
            )
        outside = [v.path for v in built if id(v) not in position and id(v) not in frozen]
        if outside:
            raise ValueError(
                f"The optimizer was built with variables {outside}, which are not "
                "this model's: compile the Distiller with an optimizer of its own."
            )
        # For each built variable: ("trainable", index) or ("frozen", index).
        self.sources = [
            ("trainable", position[id(v)]) if id(v) in position else ("frozen", frozen[id(v)])
            for v in built
        ]
        slot = {source: i for i, source in enumerate(self.sources)}
        self.order = [slot[("trainable", i)] for i in range(len(trainable))]


class _SubsetApply:
    """`stateless_apply` over the built list, for the values of a subset of it."""

    def __init__(self, stock_apply, plan, non_trainable_values):
        self._stock_apply = stock_apply
        self._plan = plan
        self._non_trainable_values = non_trainable_values

    def __call__(self, optimizer_variables, grads, trainable_variables):
        values, full_grads = [], []
        for source, index in self._plan.sources:
            if source == "trainable":
                values.append(trainable_variables[index])
                full_grads.append(grads[index])
            else:
                values.append(self._non_trainable_values[index])
                full_grads.append(None)
        with warnings.catch_warnings():
            # Keras warns about the frozen variables' missing gradients.
            warnings.filterwarnings("ignore", message="Gradients do not exist for variables")
            new_values, optimizer_variables = self._stock_apply(
                optimizer_variables, full_grads, values
            )
        return [new_values[i] for i in self._plan.order], optimizer_variables


@contextlib.contextmanager
def fresh_trace(model, step="train_step"):
    """While JAX's step is built, gives it a step function that no earlier build used.

    JAX reuses a trace for an equal function called with arguments of equal
    shapes, and a trace fixes which variable each entry of the state is. Two
    phases that freeze different layers of the same shapes pass equal shapes,
    so the second would run on the first one's variable mapping. A new
    function object per build makes every build trace afresh.

    Args:
        model: The model whose step function is being built.
        step: `"train_step"`, `"test_step"` or `"predict_step"`.
    """
    if keras.backend.backend() != "jax":
        yield
        return
    current = getattr(model, step)

    def fresh(state, data):
        return current(state, data)

    with _instance_attribute(model, step, fresh):
        yield
