"""The draft model for speculative decoding: distilled from the base model, cached, cheaper, same tokenizer."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from course_utils import base_model, draft_model

PROFILE = "ci"
# The draft is built from the cached base model: same worker as the base model's tests.
pytestmark = pytest.mark.xdist_group("base-model")


@pytest.fixture(scope="module")
def models():
    target, tokenizer = base_model.load_base_model(PROFILE)
    draft, draft_tokenizer = draft_model.load_draft_model(PROFILE)
    return target, tokenizer, draft, draft_tokenizer


def test_draft_is_a_smaller_llama_with_the_same_tokenizer(models):
    target, tokenizer, draft, draft_tokenizer = models
    assert draft_tokenizer.get_vocab() == tokenizer.get_vocab()
    assert draft.config.vocab_size == target.config.vocab_size
    assert draft.config.num_hidden_layers == draft_model.DRAFT_RECIPES[PROFILE]["num_layers"]
    assert draft.config.num_hidden_layers < target.config.num_hidden_layers
    n_draft = sum(p.numel() for p in draft.parameters())
    assert n_draft < 0.6 * sum(p.numel() for p in target.parameters())
    again = AutoModelForCausalLM.from_pretrained(draft_model.draft_model_path(PROFILE), local_files_only=True)
    ids = tokenizer("def f(x):\n    return", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(again(ids).logits, draft(ids).logits)  # loads like a hub model


def test_distillation_made_the_draft_agree_with_the_target(models):
    summary = draft_model.draft_summary(PROFILE)
    before = summary["before_distillation"]
    assert summary["kl"] < 0.5 * before["kl"]
    assert summary["top1_agreement"] > before["top1_agreement"] + 0.1
    assert summary["top1_agreement"] > 0.65  # measured 0.75 when the ci recipe was set
    assert 0.8 < summary["expected_acceptance"] <= 1.0
    target, tokenizer, draft, _ = models
    val = base_model.token_stream(tokenizer, base_model.code_corpus()["validation"][:3])
    again = draft_model.agreement(draft, target, val, context=64, batch_size=4, n_batches=1)
    assert again["top1_agreement"] > 0.6


def test_init_copies_the_target_layers_and_the_loss_is_a_kl():
    target, _ = base_model.load_base_model(PROFILE)
    draft = draft_model.init_draft_from_target(target, 1)
    assert draft.config.num_hidden_layers == 1 and target.config.num_hidden_layers > 1
    for name, p in draft.state_dict().items():
        assert torch.equal(p, target.state_dict()[name]), name
    g = torch.Generator().manual_seed(0)
    p_logits, q_logits = torch.randn(2, 5, 7, generator=g), torch.randn(2, 5, 7, generator=g)
    p, q = p_logits.softmax(-1), q_logits.softmax(-1)
    by_hand = (p * (p.log() - q.log())).sum(-1).mean()
    assert draft_model.distillation_loss(q_logits, p_logits).item() == pytest.approx(by_hand.item(), rel=1e-5)
    assert draft_model.distillation_loss(p_logits, p_logits).item() == pytest.approx(0.0, abs=1e-6)


def test_cache_key_covers_the_recipe(monkeypatch):
    path = draft_model.draft_model_path(PROFILE)
    assert json.loads((path / "training.json").read_text())["recipe"] == draft_model.DRAFT_RECIPES[PROFILE]
    key = draft_model._versions_key(
        draft_model.DRAFT_RECIPES[PROFILE], base_model.base_model_path(PROFILE).name, PROFILE
    )
    assert path.name == f"draft-model-{PROFILE}-{key}"
    changed = {**draft_model.DRAFT_RECIPES[PROFILE], "steps": 1}
    other = draft_model._versions_key(changed, base_model.base_model_path(PROFILE).name, PROFILE)
    assert other != key


def test_recipe_reproduces_the_cached_draft(tmp_path):
    summary = draft_model.build_draft_model(PROFILE, tmp_path)
    cached = draft_model.draft_summary(PROFILE)
    assert summary["top1_agreement"] == pytest.approx(cached["top1_agreement"], abs=0.02)
    assert summary["kl"] == pytest.approx(cached["kl"], abs=0.01)
    assert summary["train_losses"][-1] < summary["train_losses"][0]
