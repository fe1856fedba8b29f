"""Which student layers are trainable: captured, changed by phases, applied."""


class Trainability:
    """The trainable flag of every layer of a student, by position in its layer tree.

    Keras traces `model.trainable_weights` into the train function once, so a
    phase that freezes or unfreezes layers must rebuild that function, and the
    optimizer must already hold slots for every variable that can become
    trainable (Keras optimizers reject variables they were not built with).
    This class computes, for each phase, the flags that follow from the
    student's initial flags and the phases' `trainable` specs, so a resumed
    run gets the same flags from the epoch alone.
    """

    def __init__(self, student):
        self.layers = list(student._flatten_layers(include_self=True))
        index = {id(layer): i for i, layer in enumerate(self.layers)}
        self.covers = [
            [index[id(sub)] for sub in layer._flatten_layers(include_self=True)]
            for layer in self.layers
        ]
        self.ancestors = [[] for _ in self.layers]
        for i, covered in enumerate(self.covers):
            for j in covered:
                if j != i:
                    self.ancestors[j].append(i)
        self.by_name = {}
        for i, layer in enumerate(self.layers[1:], start=1):
            self.by_name.setdefault(layer.name, i)
        self.initial = tuple(layer.trainable for layer in self.layers)

    def _lookup(self, name):
        if name not in self.by_name:
            raise ValueError(
                f"`trainable`: the student has no layer named {name!r}. Its layers "
                f"are {sorted(self.by_name)}."
            )
        return self.by_name[name]

    def _set(self, flags, name, value):
        i = self._lookup(name)
        for j in self.covers[i]:
            flags[j] = value
        if value:
            for j in self.ancestors[i]:
                flags[j] = True

    def derive(self, specs):
        """Returns the flags after applying the `trainable` specs in order."""
        flags = list(self.initial)
        for spec in specs:
            if spec is None:
                continue
            if spec is True:
                flags = [True] * len(flags)
            elif isinstance(spec, dict):
                for name, value in spec.items():
                    self._set(flags, name, value)
            else:
                flags = [False] * len(flags)
                for name in spec:
                    self._set(flags, name, True)
        return tuple(flags)

    def apply(self, flags):
        """Sets every layer's `trainable`; parents first, as the setter recurses."""
        for layer, flag in zip(self.layers, flags):
            layer.trainable = flag

    def variables(self, flags=None):
        """Variables that train under `flags` (all that can train if `None`)."""
        if flags is None:
            flags = [True] * len(self.layers)
        chosen = {
            id(v)
            for layer, flag in zip(self.layers, flags)
            if flag
            for v in layer._trainable_variables
        }
        return [v for v in self.layers[0].weights if id(v) in chosen]
