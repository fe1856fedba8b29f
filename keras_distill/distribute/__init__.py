"""Multi-process runs: which process writes files."""

from keras_distill.distribute.chief import is_chief

__all__ = ["is_chief"]
