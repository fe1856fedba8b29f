"""Initialising a student from a teacher's weights."""

from keras_distill.transfer.transfer_weights import TransferResult
from keras_distill.transfer.transfer_weights import transfer_weights

__all__ = [
    "TransferResult",
    "transfer_weights",
]
