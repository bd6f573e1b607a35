"""The course's base model: the recipe reproduces the cached model, which loads like a hub model."""

import json
import math
import time
from collections import Counter

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from course_utils import base_model
from course_utils.checks import assert_close
from course_utils.models import load_causal_lm

PROFILE = "ci"
RECIPE = base_model.RECIPES[PROFILE]
# One worker builds and checks the model (the fixtures are per process).
pytestmark = pytest.mark.xdist_group("base-model")
COLLECTED_AT = time.time()


@pytest.fixture(scope="module")
def cached():
    return base_model.base_model_path(PROFILE)


@pytest.fixture(scope="module")
def corpus():
    return base_model.code_corpus()


def test_corpus_split_is_stable_and_mostly_train(corpus):
    n_train, n_val = len(corpus["train"]), len(corpus["validation"])
    assert 0.02 < n_val / (n_train + n_val) < 0.10
    assert base_model.code_corpus() == corpus


def test_tokenizer_round_trips_code_and_compresses_it(corpus):
    tokenizer = base_model.code_tokenizer(RECIPE["vocab_size"])
    text = "\n".join(corpus["validation"][:5])
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    assert len(text) / len(ids) > 2.0  # bytes alone would give about 1
    assert len(tokenizer) == RECIPE["vocab_size"]
    with pytest.raises(ValueError, match="au moins"):
        base_model.code_tokenizer(100)


def unigram_loss(tokenizer, corpus) -> float:
    """Cross-entropy of the validation tokens under the train unigram distribution (add-one)."""
    train = Counter(base_model.token_stream(tokenizer, corpus["train"]).tolist())
    val = base_model.token_stream(tokenizer, corpus["validation"]).tolist()
    total = sum(train.values()) + len(tokenizer)
    return -sum(math.log((train[t] + 1) / total) for t in val) / len(val)


def test_recipe_reproduces_the_cached_model(tmp_path, cached, corpus):
    cached_summary = json.loads((cached / "training.json").read_text())
    # A cache built during this run (a clean CI) is the recipe's output already; one built
    # before (another version of the code, another machine) is rebuilt and compared.
    built_now = (cached / "training.json").stat().st_mtime >= COLLECTED_AT
    built = cached if built_now else tmp_path
    summary = cached_summary if built_now else base_model.build_base_model(PROFILE, tmp_path)
    assert summary["val_loss"] == pytest.approx(cached_summary["val_loss"], abs=0.02)
    assert summary["val_loss"] == pytest.approx(RECIPE["reference_val_loss"], abs=0.05)
    # It learned more than token frequencies.
    tokenizer = AutoTokenizer.from_pretrained(built)
    assert summary["val_loss"] < unigram_loss(tokenizer, corpus) - 0.8


def test_cached_model_loads_like_a_hub_model(cached, corpus):
    model = AutoModelForCausalLM.from_pretrained(cached, local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(cached, local_files_only=True)
    assert type(model).__name__ == "LlamaForCausalLM"
    val = base_model.token_stream(tokenizer, corpus["validation"])
    loss = base_model.validation_loss(model, val, RECIPE["context"], RECIPE["batch_size"], RECIPE["eval_batches"])
    saved = json.loads((cached / "training.json").read_text())["val_loss"]
    assert loss == pytest.approx(saved, abs=1e-4)

    again, _ = load_causal_lm("course/base", profile=PROFILE)
    prompt = tokenizer("def ", return_tensors="pt")
    with torch.no_grad():
        assert_close(again(**prompt).logits, model(**prompt).logits, name="course/base")
        out = model.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > prompt["input_ids"].shape[1]
    assert tokenizer.decode(out[0]).startswith("def ")


def test_course_models_are_reached_by_name():
    assert base_model.course_model_path("base", PROFILE) == base_model.base_model_path(PROFILE)
    with pytest.raises(ValueError, match="modèle du cours inconnu"):
        base_model.course_model_path("gpt-5", PROFILE)


@pytest.mark.parametrize("profile", sorted(base_model.RECIPES))
def test_every_recipe_has_shapes_the_later_parts_need(profile):
    recipe = base_model.RECIPES[profile]
    # vLLM's CPU attention takes heads of 32, 64, 80, 96, 112, 128… (partie-09 serves the model)
    assert recipe["hidden_size"] // recipe["num_heads"] in (32, 64, 80, 96, 112, 128)
    # INT4 groups of 32 (partie-09) and 4-bit blocks (partie-07) divide every row of every linear layer
    assert recipe["hidden_size"] % 32 == 0 and recipe["intermediate_size"] % 32 == 0
