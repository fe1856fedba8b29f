"""A callback that runs training as a sequence of named phases."""

import contextlib

import keras

from keras_distill.api_export import register
from keras_distill.callbacks.distiller_callback import DistillerCallback
from keras_distill.callbacks.phase import Phase
from keras_distill.callbacks.phase_learning_rate import FOLLOW_SCHEDULE
from keras_distill.callbacks.phase_learning_rate import PhaseLearningRate
from keras_distill.callbacks.trainability import Trainability


@register
class PhaseScheduler(DistillerCallback):
    """Runs `fit` as consecutive phases, each with its own alpha, temperature, LR and trainable layers.

    At the start of each epoch the phase is derived from the epoch number
    alone, so a run resumed by `keras.callbacks.BackupAndRestore` continues in
    the right phase. A phase's `alpha`, `temperature` and float
    `learning_rate` are assigned (`.assign()`, no retracing) on the phase's
    first epoch; mid-phase they are left to other callbacks (for example
    `ReduceLROnPlateau`) and to `BackupAndRestore`, which restores them with
    the weights. With a `LearningRateSchedule`, phases with a
    `learning_rate` use that constant and the others follow the schedule.

    A phase that changes which student layers are trainable rebuilds the
    train function once (one new trace, counted in `train_function_rebuilds`),
    since Keras traces the trainable weights into it; the optimizer is built
    up front over every student variable that a phase can unfreeze.

    At the end of each epoch, `logs` gets `phase` (the 0-based phase index;
    a number, so `TensorBoard` can plot it; `phases[i].name` is its name),
    `alpha`, `temperature` and `learning_rate`. Place this callback before
    `CSVLogger`/`TensorBoard` in the `callbacks` list. When `fit` ends, the
    `History` it returns also gets `phase_name`, the name of each epoch's
    phase (after training, so that `TensorBoard`, which logs numbers only,
    never sees it); `DistillationReport` labels its plots with these names.

    Each phase's values are assigned when the phase starts, from the epoch
    number. A second `fit` starting at epoch 0 starts the first phase again,
    but settings that no phase states (for example a learning rate that only
    the last phase sets) keep whatever the previous `fit` left: state every
    value each phase relies on.

    Args:
        phases: A non-empty list of `keras_distill.Phase` (or their configs).
            Only the last may have `epochs=None`; if `fit` runs past the sum
            of the lengths, the last phase continues.
        verbose: 0 is quiet, 1 prints a line when a phase starts.
            Defaults to `0`.

    Example:

    ```python
    scheduler = keras_distill.callbacks.PhaseScheduler([
        keras_distill.Phase("distill", epochs=8, alpha=0.1, temperature=4.0),
        keras_distill.Phase("fine_tune", alpha=1.0, learning_rate=1e-4),
    ])
    distiller.fit(x, y, epochs=10, callbacks=[scheduler])
    ```
    """

    def __init__(self, phases, verbose=0):
        super().__init__()
        if not isinstance(phases, (list, tuple)) or not phases:
            raise ValueError(
                f"`phases` must be a non-empty list of keras_distill.Phase. Received: phases={phases!r}"
            )
        phases = [Phase.from_config(p) if isinstance(p, dict) else p for p in phases]
        for i, phase in enumerate(phases):
            if not isinstance(phase, Phase):
                raise ValueError(
                    f"`phases[{i}]` must be a keras_distill.Phase. Received: {phase!r}"
                )
            if phase.epochs is None and i != len(phases) - 1:
                raise ValueError(
                    f"`phases[{i}]` ({phase.name!r}) has epochs=None; only the last "
                    "phase may run until the end of fit."
                )
        self.phases = list(phases)
        self.verbose = verbose
        self.starts = [0]
        for phase in self.phases[:-1]:
            self.starts.append(self.starts[-1] + phase.epochs)
        self.train_function_rebuilds = 0
        self._trainability = None
        self._schedule_wrapper = None

    def phase_index(self, epoch):
        """Returns the index of the phase that `epoch` (0-based) belongs to."""
        return max(i for i, start in enumerate(self.starts) if start <= epoch)

    def phase_at(self, epoch):
        """Returns the `Phase` that `epoch` (0-based) belongs to."""
        return self.phases[self.phase_index(epoch)]

    def before_fit(self, distiller):
        # Keras builds an unbuilt optimizer over the trainable variables before
        # it sets the callbacks' model (on JAX and torch, and on TensorFlow
        # under a tf.distribute strategy): build it first over every variable
        # that a phase can unfreeze.
        if any(phase.trainable is not None for phase in self.phases):
            self._prepare_optimizer(distiller)

    def set_model(self, model):
        super().set_model(model)
        if any(phase.trainable is not None for phase in self.phases):
            self._prepare_optimizer(model)
        if any(phase.learning_rate is not None for phase in self.phases):
            self._wrap_schedule()

    def _prepare_optimizer(self, distiller):
        if self._trainability is None or self._trainability.layers[0] is not distiller.student:
            self._trainability = Trainability(distiller.student)
        trainability = self._trainability
        # Deriving every phase's flags now makes an unknown layer name fail before training.
        states = [
            trainability.derive([p.trainable for p in self.phases[: i + 1]])
            for i in range(len(self.phases))
        ]
        optimizer = distiller.optimizer
        if optimizer is None:
            return
        if not optimizer.built:
            # Every variable that trains in some phase, and the Distiller's
            # other trainable variables (feature adapters).
            chosen = {id(v) for flags in states for v in trainability.variables(flags)}
            variables = [v for v in distiller.student.weights if id(v) in chosen]
            variables += [v for v in distiller.trainable_variables if id(v) not in chosen]
            # TensorFlow's trainer creates optimizer slots in its strategy's scope.
            strategy = getattr(distiller, "distribute_strategy", None)
            with strategy.scope() if strategy is not None else contextlib.nullcontext():
                optimizer.build(variables)
            return
        known = {id(v) for v in optimizer._trainable_variables}
        missing = {
            v.path for flags in states for v in trainability.variables(flags) if id(v) not in known
        }
        if missing:
            raise ValueError(
                "A phase unfreezes student variables that the optimizer was not "
                f"built with: {sorted(missing)}. Keras optimizers only update the "
                "variables they were built with. Give the PhaseScheduler a freshly "
                "compiled Distiller (it builds the optimizer over every student "
                "variable that can train), or, before any training, make every "
                "student layer trainable and call `distiller.optimizer.build("
                "distiller.student.trainable_variables)`."
            )

    def _wrap_schedule(self):
        # A LossScaleOptimizer (mixed precision) delegates its learning rate.
        optimizer = getattr(self.distiller.optimizer, "inner_optimizer", self.distiller.optimizer)
        current = optimizer._learning_rate
        if isinstance(current, PhaseLearningRate):
            self._schedule_wrapper = current
        elif isinstance(current, keras.optimizers.schedules.LearningRateSchedule):
            self._schedule_wrapper = PhaseLearningRate(current)
            optimizer.learning_rate = self._schedule_wrapper
            # The old train function read the unwrapped schedule.
            self.distiller.train_function = None
        elif not isinstance(current, keras.Variable):
            raise ValueError(
                "A phase sets `learning_rate`, but the optimizer's learning rate is "
                f"{current!r}: expected a float or a keras.optimizers.schedules."
                "LearningRateSchedule."
            )

    def on_train_begin(self, logs=None):
        self._signature = self._trainable_signature()

    def _trainable_signature(self):
        return tuple(id(v) for v in self.distiller.trainable_weights)

    def on_epoch_begin(self, epoch, logs=None):
        index = self.phase_index(epoch)
        phase = self.phases[index]
        if epoch == self.starts[index]:
            self._assign_values(phase)
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: starting phase {index} {phase.name!r}.")
        if self._schedule_wrapper is not None:
            lr = phase.learning_rate
            self._schedule_wrapper.override.assign(FOLLOW_SCHEDULE if lr is None else lr)
        if self._trainability is not None:
            specs = [p.trainable for p in self.phases[: index + 1]]
            self._trainability.apply(self._trainability.derive(specs))
            signature = self._trainable_signature()
            if signature != self._signature:
                self.distiller.make_train_function(force=True)
                self.train_function_rebuilds += 1
                self._signature = signature

    def _assign_values(self, phase):
        if phase.alpha is not None:
            self.distiller.alpha = phase.alpha
        if phase.temperature is not None:
            self.distiller.temperature = phase.temperature
        if phase.learning_rate is not None and self._schedule_wrapper is None:
            self.distiller.optimizer.learning_rate = phase.learning_rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["phase"] = self.phase_index(epoch)
            logs.update(self.current_values())

    def on_train_end(self, logs=None):
        history = getattr(self.distiller, "history", None)
        logged = getattr(history, "history", {}).get("phase")
        if logged is not None:
            history.history["phase_name"] = [self.phases[int(i)].name for i in logged]
        wrapper = self._schedule_wrapper
        if wrapper is not None:
            self.distiller.optimizer.learning_rate = wrapper.schedule
            self.distiller.train_function = None
            self._schedule_wrapper = None

    def get_config(self):
        return {
            "phases": [phase.get_config() for phase in self.phases],
            "verbose": self.verbose,
        }

