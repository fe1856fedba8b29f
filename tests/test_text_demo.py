"""`keras-distill demo --dataset text`: keras-hub language models trained from scratch."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import keras_distill_cli as cli
from keras_distill.demo import text_data
from keras_distill.demo import text_metrics
from keras_distill.demo import text_models

pytest.importorskip("keras_hub")

TINY = dataclasses.replace(
    text_models.recipe("quick"), vocabulary_size=200, sequence_length=16, max_train=160,
    teacher_width=32, student_width=16, teacher_epochs=2, student_epochs=1, num_samples=2,
)


def test_held_out_text_is_from_topics_never_trained_on():
    corpus = text_data.load(max_characters=80)
    assert len(corpus.train) > 1000 and len(corpus.test) > 100
    assert not set(corpus.train) & set(corpus.test)
    assert all(len(piece) <= 80 for piece in corpus.train + corpus.test)


def test_paragraphs_keep_prose_and_drop_code_and_headings():
    topic = ("Title\n*****\n\nThe statement is used for conditional execution of\nsuites "
             "in order.\n\n   if_stmt ::= \"if\" expression \":\" suite\n\nShort.\n")
    assert text_data.paragraphs(topic) == [
        "The statement is used for conditional execution of suites in order."
    ]


def test_pipeline_reports_perplexity_agreement_and_samples(tmp_path):
    from keras_distill.demo import text_pipeline

    results = text_pipeline.run(out=str(tmp_path), seed=0, verbose=0, recipe=TINY)
    models = results["models"]
    assert list(models) == ["teacher", "student alone", "distilled student"]
    assert models["teacher"]["agreement"] == 1.0
    for metrics in models.values():
        # Better than uniform guessing over the vocabulary after training.
        assert 1.0 < metrics["perplexity"] < TINY.vocabulary_size
        assert np.isfinite(metrics["teacher_nll_of_samples"])
    assert models["student alone"]["parameters"] == models["distilled student"]["parameters"]
    assert models["student alone"]["parameters"] < models["teacher"]["parameters"]
    samples = results["samples"]
    assert len(samples["prompts"]) == TINY.num_samples
    for texts in samples["continuations"].values():
        # Decoding normalizes what a 200-token vocabulary cannot spell; the words stay.
        assert [text.split()[0] for text in texts] == [p.split()[0] for p in samples["prompts"]]
    with open(tmp_path / "report.json") as f:
        assert json.load(f)["models"] == json.loads(json.dumps(models))
    report = (tmp_path / "report.md").read_text()
    assert "held-out perplexity" in report and samples["prompts"][0] in report


def test_continuation_score_counts_only_the_continuation():
    keras_hub = pytest.importorskip("keras_hub")
    corpus = text_data.load(max_characters=80, max_train=200)
    tokenizer = text_models.tokenizer(text_data.sentence_piece_proto(corpus.train, 200))
    teacher = text_models.language_model(tokenizer, 1, 16, 16)
    prompts, texts = ["The value of"], ["The value of the object"]
    score = text_metrics.continuation_nll(teacher, prompts, texts, 16)
    x = teacher.preprocessor.generate_preprocess(texts, sequence_length=16)
    ids = np.asarray(x["token_ids"])[0]
    prompt_length = int(np.asarray(
        teacher.preprocessor.generate_preprocess(prompts, sequence_length=16)["padding_mask"]
    ).sum())
    length = int(np.asarray(x["padding_mask"]).sum())
    log_probs = text_metrics.log_probabilities(teacher, {k: np.asarray(v) for k, v in x.items()})
    expected = -np.mean([log_probs[0, t, ids[t + 1]] for t in range(prompt_length - 1, length - 1)])
    assert length > prompt_length
    np.testing.assert_allclose(score, expected, rtol=1e-5)
    assert isinstance(teacher, keras_hub.models.CausalLM)


def test_missing_keras_hub_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    with pytest.raises(ImportError, match=r'pip install "keras-distill\[hub\]"'):
        text_models.require_keras_hub()


def test_cli_without_keras_hub_exits_2_naming_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "keras_hub", None)
    assert cli.main(["demo", "--dataset", "text", "--out", str(tmp_path)]) == 2
    assert 'pip install "keras-distill[hub]"' in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--teacher", "mlp"], ["--teaching", "cached"],
                                  ["--data", "mnist.npz"]])
def test_image_flags_are_refused_with_text(flag, capsys, tmp_path):
    assert cli.main(["demo", "--dataset", "text", "--out", str(tmp_path), *flag]) == 2
    assert flag[0] in capsys.readouterr().err


# The default preset as a user runs it: about 45 s of CPU time, minutes of wall time.
@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_text_demo_default_distilled_beats_alone(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "keras_distill_cli", "demo", "--dataset", "text", "--out",
         str(tmp_path)], capture_output=True, text=True, check=False,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    with open(tmp_path / "report.json") as f:
        models = json.load(f)["models"]
    assert models["distilled student"]["perplexity"] < models["student alone"]["perplexity"]
    assert models["teacher"]["perplexity"] < models["distilled student"]["perplexity"]
    assert "== Summary ==" in process.stdout and "retracing" not in process.stdout + process.stderr
