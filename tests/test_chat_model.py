"""The chat model: the course's chat template, assistant-only masks, and SFT that taught the tool-call format."""

import pytest
import torch

from course_utils import base_model, chat_model
from course_utils.instructions import instruction_dataset

PROFILE = "ci"
# Built from the cached base model: same worker as the base model's tests.
pytestmark = pytest.mark.xdist_group("base-model")

CHAT = [
    {"role": "user", "content": "Quel temps fait-il à Lyon ?"},
    {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Lyon"}}'},
    {"role": "user", "content": "Et à Brest ?"},
    {"role": "assistant", "content": "Pluie."},
]


@pytest.fixture(scope="module")
def tokenizer():
    _, tokenizer = base_model.load_base_model(PROFILE)
    tokenizer.chat_template = chat_model.chat_template()
    return tokenizer


def test_template_renders_a_heading_per_turn(tokenizer):
    text = tokenizer.apply_chat_template(CHAT, tokenize=False)
    expected = "".join(
        f"### {m['role']}\n{m['content']}{'<|endoftext|>' if m['role'] == 'assistant' else ''}\n\n" for m in CHAT
    )
    assert text == expected
    prompt = tokenizer.apply_chat_template(CHAT[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "### user\nQuel temps fait-il à Lyon ?\n\n### assistant\n"


def test_assistant_mask_covers_the_answers_and_their_end_token(tokenizer):
    out = tokenizer.apply_chat_template(CHAT, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    trained = tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert trained == CHAT[1]["content"] + "<|endoftext|>" + CHAT[3]["content"] + "<|endoftext|>"


def test_sft_taught_the_tool_call_format():
    summary = chat_model.chat_summary(PROFILE)
    before, after = summary["before_sft"], summary["after_sft"]
    assert before["tool_call_valid"] <= 0.05  # measured 0.00: the base model writes code, not calls
    assert after["tool_call_valid"] >= 0.8  # measured 1.00 when the ci recipe was set
    assert summary["train_losses"][-1] < 0.5 * summary["train_losses"][0]
    model, tokenizer = chat_model.load_chat_model(PROFILE)
    assert tokenizer.chat_template == chat_model.chat_template()  # saved with the model
    test = instruction_dataset(n_train=0, n_test=20, mix={"tool_call": 1.0})["test"]
    assert chat_model.evaluate(model, tokenizer, test)["tool_call_valid"] >= 0.8
    base, _ = base_model.load_base_model(PROFILE)
    with torch.no_grad():  # the fine-tune moved the weights, the architecture is the base model's
        assert base.config.hidden_size == model.config.hidden_size
        assert not torch.equal(base.model.layers[0].mlp.up_proj.weight, model.model.layers[0].mlp.up_proj.weight)
