import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from course_utils.checks import assert_close
from course_utils.models import byte_tokenizer, embedding_model_path, load_causal_lm, load_embedding_model


def test_byte_tokenizer_round_trips_any_text():
    tok = byte_tokenizer()
    text = "Déjà vu : l'été 🎉 — naïve 中文\n\ttab"
    ids = tok(text)["input_ids"]
    assert ids == list(text.encode("utf-8"))
    assert tok.decode(ids) == text
    assert tok.eos_token_id == 257 and len(tok) == 259


@pytest.mark.parametrize("name", ["course/tiny-llama", "course/tiny-gpt2"])
def test_course_models_are_built_offline_and_deterministic(name):
    model_a, tok = load_causal_lm(name, seed=1)
    model_b, _ = load_causal_lm(name, seed=1)
    ids = torch.tensor([tok("bonjour")["input_ids"]])
    with torch.no_grad():
        assert_close(model_a(ids).logits, model_b(ids).logits, name=name)
    assert model_a(ids).logits.shape == (1, ids.shape[1], len(tok))


def test_saved_folder_loads_back(tmp_path):
    model, tok = load_causal_lm("course/tiny-gpt2")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, tok2 = load_causal_lm(str(tmp_path))
    ids = torch.tensor([tok("abc")["input_ids"]])
    with torch.no_grad():
        assert_close(again(ids).logits, model(ids).logits, name="modèle rechargé")
    assert tok2.decode(ids[0]) == "abc"


def test_hub_name_offline_fails_clearly_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="hors ligne.*course/tiny-llama"):
        load_causal_lm("some-org/model-that-is-not-cached")


def test_embedding_model_matches_transformers_mean_pooling():
    sentences = ["A cat sleeps on the sofa.", "The kitten is napping on the couch.", "Taxes will rise in 2026."]
    got = torch.as_tensor(load_embedding_model().encode(sentences))
    # Reference: the same weights through transformers, mean pooling, L2 norm.
    path = embedding_model_path()
    tok, bert = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    batch = tok(sentences, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = bert(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert got.shape == (3, 384)
    assert_close(got, expected, atol=1e-5, name="embeddings")
    similarity = got @ got.T
    assert similarity[0, 1] > similarity[0, 2]  # a paraphrase is closer than an unrelated sentence
