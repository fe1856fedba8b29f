"""Tiny keras-hub causal language models for tests, with tokenizers trained here.

Presets need a download, so the tests build GPT-2 and Gemma models from small
configs, with a byte-level BPE (GPT-2) or SentencePiece (Gemma) tokenizer
trained in a fraction of a second on docstrings that ship with Python.
"""

import argparse
import collections
import functools
import io
import json
import re
import textwrap

import keras_hub

SEQUENCE_LENGTH = 16


def corpus():
    """About a hundred lines of English from standard-library docstrings."""
    lines = []
    for module in (argparse, collections, json, textwrap):
        lines += [line.strip() for line in (module.__doc__ or "").splitlines()]
    return [line for line in lines if len(line) > 20]


@functools.cache
def gpt2_tokenizer_assets(merges=60):
    """`(vocabulary, merges)` of a byte-level BPE trained greedily on `corpus()`."""
    byte_chars = _byte_characters()
    words = collections.Counter()
    for line in corpus():
        for word in re.findall(r" ?\w+| ?[^\w\s]+|\s+", line):
            words[tuple(byte_chars[b] for b in word.encode("utf-8"))] += 1
    vocabulary = {"<|endoftext|>": 0}
    for char in byte_chars:
        vocabulary.setdefault(char, len(vocabulary))
    rules = []
    for _ in range(merges):
        pairs = collections.Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        (left, right), _ = pairs.most_common(1)[0]
        rules.append(f"{left} {right}")
        vocabulary.setdefault(left + right, len(vocabulary))
        words = collections.Counter({_merge(w, left, right): c for w, c in words.items()})
    return vocabulary, rules


def _byte_characters():
    """GPT-2's printable stand-in character for each byte value 0..255."""
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def _merge(word, left, right):
    merged, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == left and word[i + 1] == right:
            merged.append(left + right)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return tuple(merged)


def gpt2_tokenizer():
    vocabulary, merges = gpt2_tokenizer_assets()
    return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)


@functools.cache
def sentence_piece_proto(vocabulary_size=160):
    """A SentencePiece model with Gemma's special tokens, trained on `corpus()`."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()), model_writer=model, vocab_size=vocabulary_size,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>",
        bos_piece="<bos>", unk_piece="<unk>", minloglevel=2,
    )
    return model.getvalue()


def gemma_tokenizer():
    return keras_hub.models.GemmaTokenizer(proto=sentence_piece_proto())


def gpt2_lm(tokenizer, layers=1, width=16, sequence_length=SEQUENCE_LENGTH, name=None):
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=layers, num_heads=2,
        hidden_dim=width, intermediate_dim=2 * width, max_sequence_length=4 * sequence_length,
        dropout=0.0,
    )
    preprocessor = keras_hub.models.GPT2CausalLMPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.GPT2CausalLM(backbone, preprocessor=preprocessor, name=name)


def gemma_lm(tokenizer, layers=1, width=16, sequence_length=SEQUENCE_LENGTH, name=None):
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=layers, num_query_heads=2,
        num_key_value_heads=1, hidden_dim=width, intermediate_dim=2 * width,
        head_dim=width // 2,
    )
    preprocessor = keras_hub.models.GemmaCausalLMPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.GemmaCausalLM(backbone, preprocessor=preprocessor, name=name)


FAMILIES = {"gpt2": (gpt2_tokenizer, gpt2_lm), "gemma": (gemma_tokenizer, gemma_lm)}


def pair(family):
    """`(teacher, student)`: a 2-layer and a 1-layer model sharing one tokenizer."""
    make_tokenizer, make_lm = FAMILIES[family]
    tokenizer = make_tokenizer()
    return (
        make_lm(tokenizer, layers=2, width=32, name="teacher"),
        make_lm(tokenizer, layers=1, width=16, name="student"),
    )
