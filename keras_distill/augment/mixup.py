"""MixUp: convex combinations of two samples (Zhang et al. 2018)."""

import keras

from keras_distill.api_export import register
from keras_distill.augment.batch_mix import BatchMix
from keras_distill.augment.batch_mix import broadcast_to


@register
class MixUp(BatchMix):
    """Replaces each sample by `share * x_i + (1 - share) * x_j`, `j` a random partner.

    Pass it to the `Distiller` as `mix=MixUp()`: the teacher labels every mixed
    input, which makes each batch new information for the student even on a
    small training set (Beyer et al. 2022 distil with mixup on every batch).
    Shares are drawn per sample.

    Args:
        alpha: Shares follow Beta(alpha, alpha); `1.0` (uniform) is the
            function-matching setting of Beyer et al. Defaults to `1.0`.

    Example:

    ```python
    distiller = keras_distill.Distiller(
        teacher=teacher, student=student, mix=keras_distill.augment.MixUp()
    )
    ```

    Reference:
        Zhang, Cisse, Dauphin and Lopez-Paz, "mixup: Beyond Empirical Risk
        Minimization", ICLR 2018.
    """

    def mix(self, inputs, partner_inputs, shares, seed):
        def combine(x, partner):
            weight = broadcast_to(shares, x)
            return weight * x + (1.0 - weight) * partner

        return keras.tree.map_structure(combine, inputs, partner_inputs), shares
