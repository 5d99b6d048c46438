"""A text classifier compiled for a server (`Classifier.compile`): it reads as it did as loaded,
and one that cannot be compiled is left as loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch._inductor.config
from transformers import AutoTokenizer, BertConfig, BertModel

from ml.data.synthetic_shop import TICKET_BODIES
from ml.models.networks import TextClassifier, default_base_model
from ml.models.text_classifier import Classifier

LABELS = ("a", "b", "c")
TEXTS = [body.format(order=48213, category="home", days=6) for bodies in TICKET_BODIES.values() for body in bodies]


def small(folder: Path, width: int) -> Classifier:
    """A two-layer BERT of `width` with MiniLM's tokenizer: compiles in seconds, not a minute."""
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(default_base_model())
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=width, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=2 * width)).save_pretrained(folder)
    return Classifier(TextClassifier(str(folder), len(LABELS)), tokenizer, 64, LABELS, torch.device("cpu"))


@pytest.mark.slow
def test_a_compiled_classifier_reads_as_loaded_and_one_that_cannot_compile_is_left_as_loaded(tmp_path, monkeypatch):
    classifier = small(tmp_path / "compiled", 32)
    before = classifier.predict(TEXTS)
    assert classifier.compile(TEXTS) > 0
    assert isinstance(classifier.variants.module(classifier.choice.precision), torch._dynamo.eval_frame.OptimizedModule)
    after = classifier.predict(TEXTS + TEXTS[:3])  # another batch shape: the same compiled code
    assert after["label"][:len(TEXTS)].tolist() == before["label"].tolist()
    assert np.abs(after[list(LABELS)][:len(TEXTS)].to_numpy() - before[list(LABELS)].to_numpy()).max() < 0.02

    # No C++ compiler: a model of another width (its own kernels, none compiled yet) stays as loaded.
    monkeypatch.setattr(torch._inductor.config.cpp, "cxx", ("/nonexistent/g++",))
    other = small(tmp_path / "uncompiled", 48)
    other.choose_precision(TEXTS)
    as_loaded = other.variants.module(other.choice.precision)
    with pytest.raises(Exception) as failed:
        other.compile(TEXTS)
    assert "No working C++ compiler" in str(failed.value), str(failed.value)[:500]  # what the start-up line says
    assert other.variants.module(other.choice.precision) is as_loaded
    assert other.predict(TEXTS)["label"].isin(LABELS).all()
