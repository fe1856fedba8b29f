"""A callback that ends distillation with a fine-tuning phase on the labels."""

from keras_distill.api_export import register
from keras_distill.callbacks.phase import Phase
from keras_distill.callbacks.phase_scheduler import PhaseScheduler
from keras_distill.schedules.schedule import check_count


@register
class FineTuning(PhaseScheduler):
    """Distills until `start_epoch`, then fine-tunes the student (by default on labels only).

    A two-phase `PhaseScheduler`: phase 0, `"distill"`, leaves the compiled
    settings (and any other scheduler) alone; phase 1, `"fine_tune"`, starts
    at epoch `start_epoch` and assigns `alpha` (1.0: the hard-label loss
    alone, the teacher no longer affects the update), and optionally a lower
    `learning_rate`, a `temperature` and the `trainable` student layers.

    Args:
        start_epoch: 0-based epoch at which fine-tuning starts, an integer >= 0.
        alpha: Weight of the hard-label loss while fine-tuning, in [0, 1].
            Defaults to `1.0`.
        learning_rate: Learning rate while fine-tuning (see `Phase`).
            Defaults to `None` (unchanged).
        temperature: Temperature while fine-tuning. Defaults to `None`.
        trainable: Student layers that train while fine-tuning (see
            `Phase`), e.g. `{"backbone": False}` to train the head only.
            Defaults to `None` (unchanged).
        verbose: 0 is quiet, 1 prints a line when a phase starts.
            Defaults to `0`.

    Example:

    ```python
    fine_tune = keras_distill.callbacks.FineTuning(start_epoch=8, learning_rate=1e-4)
    distiller.fit(x, y, epochs=10, callbacks=[fine_tune])
    ```
    """

    def __init__(
        self,
        start_epoch,
        alpha=1.0,
        learning_rate=None,
        temperature=None,
        trainable=None,
        verbose=0,
    ):
        start_epoch = check_count(start_epoch, "start_epoch", minimum=0)
        fine_tune = Phase(
            "fine_tune",
            alpha=alpha,
            learning_rate=learning_rate,
            temperature=temperature,
            trainable=trainable,
        )
        phases = [fine_tune] if start_epoch == 0 else [Phase("distill", start_epoch), fine_tune]
        super().__init__(phases, verbose=verbose)
        self.start_epoch = start_epoch

    def get_config(self):
        config = self.phases[-1].get_config()
        del config["name"], config["epochs"]
        config.update(start_epoch=self.start_epoch, verbose=self.verbose)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
