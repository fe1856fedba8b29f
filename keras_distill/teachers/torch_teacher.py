"""A teacher from a PyTorch `nn.Module`, on any Keras backend."""

import numpy as np

from keras_distill.api_export import register
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.source_digest import arrays_digest


@register
class TorchTeacher(ForeignTeacher):
    """A PyTorch module as a teacher, run in `eval()` mode under `torch.no_grad()`.

    Runs on the CPU (or `device`) with NumPy inputs converted to torch
    tensors, whatever Keras's backend is. The caches fingerprint it by its
    class name and the bytes of its `state_dict` (parameters and buffers).

    Args:
        module: A `torch.nn.Module` returning logits (a tensor, or a tuple
            whose first item is the logits).
        input_shape: Shape of one input sample, without the batch (e.g.
            `(1, 28, 28)` for a channels-first CNN).
        input_dtype: Dtype of the inputs. Defaults to `"float32"`.
        device: Torch device it runs on. Defaults to `"cpu"`.
        name: Defaults to `"torch_teacher"`.

    Example:

    ```python
    import torch

    torch_model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    teacher = keras_distill.teachers.TorchTeacher(torch_model, input_shape=(784,))
    distiller = keras_distill.Distiller(teacher, student)
    ```
    """

    def __init__(self, module, input_shape, input_dtype="float32", device="cpu", name="torch_teacher"):
        import torch

        if not isinstance(module, torch.nn.Module):
            raise TypeError(
                f"`module` must be a torch.nn.Module. Received: module={module!r} of type "
                f"{type(module).__name__}."
            )
        module.eval()
        state = [(key, value.detach().cpu().numpy()) for key, value in module.state_dict().items()]
        super().__init__(
            input_shape,
            source_fingerprint=f"torch:{type(module).__qualname__}:{arrays_digest(state)}",
            input_dtype=input_dtype, name=name,
        )
        self.module = module
        self.device = device
        self.check_outputs()

    def run(self, inputs):
        import torch

        flat = inputs if isinstance(inputs, list) else [inputs]
        with torch.no_grad():
            # A copy: host-call inputs arrive read-only, which torch warns about.
            tensors = [torch.from_numpy(np.array(a, order="C", copy=True)) for a in flat]
            outputs = self.module(*[t.to(self.device) for t in tensors])
        if isinstance(outputs, (tuple, list)):
            outputs = outputs[0]
        return outputs.detach().float().cpu().numpy()
