"""Sequence-level distillation: the teacher's own continuations of prompts, on disk.

`TeacherSequences.build` runs a keras-hub teacher's compiled `generate` over
prompts, batch by batch, with a keras-hub sampler, and writes the texts
(prompt and continuation) in shards, each written atomically with a
fingerprint of the teacher's weights, the generation settings and its
prompts (the machinery of `ShardedTeacherCache`). An interrupted build, run
again, generates only the missing shards; opening a folder with another
teacher raises `StaleCacheError`. The student then trains on the texts:
`student.fit(sequences.texts())` (sequence-level KD alone) or
`Distiller.fit(sequences.texts())` (with token-level KD on the same
sequences).

Reference:
    Kim and Rush, "Sequence-Level Knowledge Distillation", EMNLP 2016.
"""

import json
import math
import os

import numpy as np

from keras_distill.cache import cache_file
from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.cache.sharded_cache import shard_path
from keras_distill.core import argument_validation as validation
from keras_distill.core import atomic_files
from keras_distill.core.errors import StaleCacheError
from keras_distill.language import student_samples
from keras_distill.lm_hooks import causal_lm

SETTINGS = "sequences.json"
KIND = "keras_distill teacher sequences"


class TeacherSequences:
    """The teacher's continuations of a list of prompts, in shards on disk.

    Made by `TeacherSequences.build` or `TeacherSequences.open`, not directly.

    Args:
        directory: The folder holding the shards and their fingerprints.
        settings: The generation settings the shards were written with.

    Example:

    ```python
    sequences = keras_distill.language.TeacherSequences.build(
        teacher, prompts, "teacher_sequences", max_length=64, sampler="greedy")
    distiller.fit(sequences.texts(), batch_size=8, epochs=3)
    ```

    Reference:
        Kim and Rush, "Sequence-Level Knowledge Distillation", EMNLP 2016.
    """

    def __init__(self, directory, settings):
        self.directory = directory
        self.settings = settings

    @classmethod
    def build(cls, teacher, prompts, directory, shard_size=1024, batch_size=32,
              max_length=None, sampler="greedy", sampling_temperature=1.0, seed=None,
              verbose=0):
        """Generates the teacher's continuations of `prompts` into shards under `directory`.

        Args:
            teacher: A keras-hub `CausalLM` with a preprocessor.
            prompts: A list (or 1-D array) of prompt strings.
            directory: The folder (created when missing).
            shard_size: Prompts per shard, an int >= 1. Defaults to `1024`.
            batch_size: Prompts per `generate` call, an int >= 1. Defaults to `32`.
            max_length: Tokens of prompt and continuation together. Defaults
                to `None` (the preprocessor's sequence length).
            sampler: keras-hub sampler name (`"greedy"`, `"random"`,
                `"top_k"`, `"top_p"`) or config dict. Defaults to `"greedy"`.
            sampling_temperature: Temperature of the samples, > 0. Defaults to `1.0`.
            seed: Seed of random samplers. Defaults to `None`.
            verbose: 1 prints a line per shard. Defaults to `0`.

        Returns:
            The `TeacherSequences`.

        Raises:
            StaleCacheError: `directory` holds sequences of another teacher or settings.
        """
        if not causal_lm.is_causal_lm(teacher) or teacher.preprocessor is None:
            raise TypeError(
                "`teacher` must be a keras_hub.models.CausalLM with a preprocessor (it "
                f"generates text). Received a {type(teacher).__name__}."
            )
        prompts = np.asarray(prompts)
        if prompts.ndim != 1 or prompts.dtype.kind not in "US" or len(prompts) == 0:
            raise ValueError(
                "`prompts` must be a non-empty list of strings. Received an array of "
                f"shape {prompts.shape} and dtype {prompts.dtype}."
            )
        shard_size = _positive_int(shard_size, "shard_size")
        batch_size = _positive_int(batch_size, "batch_size")
        if max_length is not None:
            max_length = _positive_int(max_length, "max_length")
        temperature = validation.check_temperature(sampling_temperature, "sampling_temperature")
        built_sampler = student_samples.build_sampler(sampler, temperature, seed)
        generation = json.dumps(
            {"sampler": sampler, "temperature": temperature, "seed": seed,
             "max_length": max_length}, sort_keys=True,
        )
        settings = {
            "kind": KIND,
            "teacher": fingerprint_lib.teacher_fingerprint(teacher, generation, None),
            "weights": _weights_fingerprint(teacher),
            "num_prompts": len(prompts),
            "shard_size": shard_size,
            "num_shards": math.ceil(len(prompts) / shard_size),
        }
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        _write_settings(directory, settings)
        own_sampler, own_function = teacher.sampler, teacher.generate_function
        teacher.sampler, teacher.generate_function = built_sampler, None
        try:
            for index in range(settings["num_shards"]):
                shard = prompts[index * shard_size:(index + 1) * shard_size]
                expected = fingerprint_lib.fingerprint(
                    settings["teacher"], fingerprint_lib.data_fingerprint(shard)
                )
                path = shard_path(directory, index)
                if _stored_fingerprint(path) == expected:
                    continue
                texts = [
                    text for start in range(0, len(shard), batch_size)
                    for text in teacher.generate(
                        list(shard[start:start + batch_size]), max_length=max_length
                    )
                ]
                cache_file.write(path, {"texts": np.asarray(texts, dtype=str),
                                        "fingerprint": np.array(expected)})
                if verbose:
                    print(f"shard {index}: {len(texts)} sequences", flush=True)
        finally:
            teacher.sampler, teacher.generate_function = own_sampler, own_function
        return cls(directory, settings)

    @classmethod
    def open(cls, directory, teacher=None):
        """Opens built sequences; with `teacher`, checks they are that teacher's.

        Raises:
            FileNotFoundError: No sequences in `directory`, or shards missing.
            StaleCacheError: Another teacher (weights) wrote them.
        """
        directory = os.fspath(directory)
        settings = _read_settings(directory)
        missing = [i for i in range(settings["num_shards"])
                   if _stored_fingerprint(shard_path(directory, i)) is None]
        if missing:
            raise FileNotFoundError(
                f"{directory!r} is incomplete: {len(missing)} of {settings['num_shards']} "
                "shards are missing. Run `TeacherSequences.build` again with the same "
                "arguments: it generates only the missing shards."
            )
        sequences = cls(directory, settings)
        if teacher is not None:
            if _weights_fingerprint(teacher) != settings["weights"]:
                raise StaleCacheError(
                    f"The sequences in {directory!r} were generated by another teacher "
                    "(weights): generate them again into a new folder."
                )
        return sequences

    def texts(self):
        """Every sequence (prompt and the teacher's continuation), in the prompts' order."""
        return [str(t) for i in range(self.settings["num_shards"])
                for t in cache_file.read(shard_path(self.directory, i))["texts"]]


def _weights_fingerprint(teacher):
    # Without the generation settings, which `open` is not given.
    return fingerprint_lib.teacher_fingerprint(teacher, "generate", None)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}.")
    return int(value)


def _stored_fingerprint(path):
    if not os.path.exists(path):
        return None
    return str(cache_file.read(path)["fingerprint"])


def _write_settings(directory, settings):
    path = os.path.join(directory, SETTINGS)
    if os.path.exists(path):
        existing = _read_settings(directory)
        if existing != settings:
            changed = sorted(k for k in settings if existing.get(k) != settings[k])
            raise StaleCacheError(
                f"{directory!r} holds teacher sequences of another teacher or settings "
                f"({', '.join(changed)} differ): build into a new folder, or delete it."
            )
        return

    def write(staged):
        with open(staged, "w") as f:
            json.dump(settings, f, indent=1)

    atomic_files.write_file(path, write)


def _read_settings(directory):
    path = os.path.join(directory, SETTINGS)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No teacher sequences in {directory!r} (no {SETTINGS}).")
    with open(path) as f:
        settings = json.load(f)
    if settings.get("kind") != KIND:
        raise StaleCacheError(f"{path!r} is not a teacher-sequences settings file.")
    return settings
