"""TrialDistiller: a search trial's Distiller, whose weight files hold the student alone."""

import keras

from keras_distill.distiller import Distiller
from keras_distill.distiller import saving


# Registered so that a trial model saved whole (`save`) loads again; built by
# `DistillerHyperModel.build`, not a public class of its own.
@keras.saving.register_keras_serializable(package="keras_distill", name="TrialDistiller")
class TrialDistiller(Distiller):
    """A search trial's `Distiller`: `save_weights`/`load_weights` act on the student alone.

    KerasTuner writes the trial model's weights at every epoch that improves
    the objective; for a Distiller these would include the teacher's (often
    far larger than the student, and the same in every trial). A trial's
    checkpoint is the student's weights file, which `load_weights` reads back
    into the student (and `keras.Model.load_weights` reads into a student
    built alone). `save` and `keras.models.load_model` keep the whole Distiller.
    """

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Saves the student's weights (not the teacher's) atomically."""
        with saving.without_submodel_optimizers(self.student):
            saving.save_atomically(self.student.save_weights, filepath, overwrite, kwargs)

    def load_weights(self, filepath, **kwargs):
        """Loads a student's weights file (as `save_weights` writes) into the student."""
        with saving.without_submodel_optimizers(self.student):
            self.student.load_weights(filepath, **kwargs)
