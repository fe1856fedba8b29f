"""The text demo's data: English prose from Python's own reference manual, and a tokenizer trained on it.

Every Python ships `pydoc_data.topics` (the language reference's topics that
`help("if")` prints: about 460,000 characters), so the corpus needs no
download. The prose paragraphs (not code, grammar or headings) are cut into
pieces of whole words, and whole topics are held out for testing, so the
held-out text is about subjects the models never read. The tokenizer is a
SentencePiece model trained on the training pieces in a second, with
Gemma's special tokens, for keras-hub's `GemmaTokenizer`.
"""

import dataclasses
import io
import re

import numpy as np

# Headings are underlined with one of these characters.
_UNDERLINE = re.compile(r"^[*=\-^~\"]{3,}$")


@dataclasses.dataclass
class TextCorpus:
    """Training and held-out pieces of prose.

    Attributes:
        train: Training pieces (strings).
        test: Held-out pieces, from topics absent from `train`.
        source: Where the text came from, for the report.
    """

    train: list
    test: list
    source: str


def paragraphs(text):
    """The prose paragraphs of one topic, each joined into one line.

    Indented blocks (code, grammar rules), tables and headings are dropped.
    """
    kept = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or any(line.startswith((" ", "\t", "|", "+")) for line in lines):
            continue
        if len(lines) == 2 and _UNDERLINE.match(lines[1].strip()):
            continue
        joined = " ".join(line.strip() for line in lines)
        if len(joined.split()) >= 8:
            kept.append(joined)
    return kept


def pieces(paragraph, max_characters):
    """`paragraph` cut into pieces of whole words, each at most `max_characters` long."""
    cut, words = [], []
    for word in paragraph.split():
        if words and len(" ".join(words + [word])) > max_characters:
            cut.append(" ".join(words))
            words = []
        words.append(word)
    if len(words) >= 4:
        cut.append(" ".join(words))
    return cut


def load(max_characters=120, test_fraction=0.1, max_train=None, seed=0):
    """The corpus from `pydoc_data.topics`, split by topic.

    Args:
        max_characters: Longest piece, in characters.
        test_fraction: Share of the topics held out.
        max_train: Keep at most this many training pieces (a random
            subset, for quick runs); `None` keeps all.
        seed: Seed of the split (fixed across runs by default, so that the
            same topics are always held out).

    Returns:
        A `TextCorpus`.
    """
    from pydoc_data import topics

    names = sorted(topics.topics)
    order = np.random.default_rng(seed).permutation(len(names))
    num_test = max(1, round(test_fraction * len(names)))
    held_out = {names[i] for i in order[:num_test]}
    train, test = [], []
    for name in names:
        split = test if name in held_out else train
        for paragraph in paragraphs(topics.topics[name]):
            split.extend(pieces(paragraph, max_characters))
    # The manual repeats some passages in several topics: held out means unseen.
    seen = set(train)
    test = [piece for piece in test if piece not in seen]
    if max_train is not None and len(train) > max_train:
        keep = np.random.default_rng(seed).choice(len(train), max_train, replace=False)
        train = [train[i] for i in sorted(keep)]
    return TextCorpus(train=train, test=test, source="pydoc_data.topics (Python's reference manual)")


def sentence_piece_proto(texts, vocabulary_size):
    """A SentencePiece model (serialized) trained on `texts`, with Gemma's special tokens."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocabulary_size,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>",
        bos_piece="<bos>", unk_piece="<unk>", model_type="unigram", minloglevel=2,
        num_threads=1,
    )
    return model.getvalue()


def prompts(texts, num_words):
    """The first `num_words` words of each text, as generation prompts."""
    return [" ".join(text.split()[:num_words]) for text in texts]
