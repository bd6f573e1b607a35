"""Generated post-training data: valid calls are exactly the declared ones, test values are held out,
preference pairs do not reward length, refusal templates are held out whole."""

import json
import statistics

import pytest

from course_utils import instructions as I


@pytest.fixture(scope="module")
def data():
    return I.instruction_dataset(n_train=300, n_test=120)


def test_parse_tool_call_accepts_only_declared_calls():
    good = I.tool_call_text("convert_currency", {"amount": 12, "source": "EUR", "target": "USD"})
    assert I.parse_tool_call(f"  {good}\n") == json.loads(good)
    bad = [
        "",
        "pas du JSON",
        '["get_weather"]',
        '{"name": "get_weather"}',
        '{"name": "get_weather", "arguments": {"city": "Lyon"}, "extra": 1}',
        '{"name": "delete_all", "arguments": {}}',
        '{"name": "get_weather", "arguments": {"city": 3}}',
        '{"name": "get_weather", "arguments": {"city": "Lyon", "days": 2}}',
        '{"name": "convert_currency", "arguments": {"amount": true, "source": "EUR", "target": "USD"}}',
        '{"name": "convert_currency", "arguments": {"amount": "12", "source": "EUR", "target": "USD"}}',
        good[:-1],
        f"Voici : {good}",
    ]
    assert [I.parse_tool_call(text) for text in bad] == [None] * len(bad)


def test_every_answer_is_right_and_the_test_values_are_held_out(data):
    seen = {"train": set(), "test": set()}
    for split in ("train", "test"):
        for row in data[split]:
            assert row["messages"] == [
                {"role": "user", "content": row["prompt"]},
                {"role": "assistant", "content": row["answer"]},
            ]
            if row["task"] == "tool_call":
                call = I.parse_tool_call(row["answer"])
                assert call is not None and all(str(v) in row["prompt"] for v in call["arguments"].values())
                seen[split] |= {v for k, v in call["arguments"].items() if k not in ("source", "target")}
            elif row["task"] == "addition":
                a, b = map(int, row["prompt"].removeprefix("Combien font ").removesuffix(" ?").split(" + "))
                assert row["answer"] == str(a + b)
                seen[split].add((a, b))
            else:
                assert row["answer"].startswith("def ") and row["answer"].endswith("):")
                seen[split].add(row["answer"])
    assert seen["test"] and not seen["train"] & seen["test"]
    assert I.instruction_dataset(n_train=300, n_test=120)["test"]["prompt"] == data["test"]["prompt"]  # seeded
    with pytest.raises(ValueError, match="tâches inconnues"):
        I.instruction_dataset(mix={"poésie": 1.0})


def test_rewards_score_strings_and_chat_messages():
    answers = ["42", "7"]
    completions = [" 42 ", [{"role": "assistant", "content": "8"}]]
    assert I.exact_match_reward(completions, answers) == [1.0, 0.0]
    call = I.tool_call_text("search_docs", {"module": "json"})
    assert I.tool_call_reward([call, [{"role": "assistant", "content": call}], call[:-2]]) == [1.0, 1.0, 0.0]


def test_preference_pairs_do_not_reward_length():
    pairs = I.preference_pairs(n_train=100, n_test=100)
    for row in pairs["train"]:
        assert I.parse_tool_call(row["chosen"]) is not None
        assert I.parse_tool_call(row["rejected"]) != I.parse_tool_call(row["chosen"])
    kinds = [row["kind"] for row in pairs["test"]]
    assert len(set(kinds)) == 5 and max(map(kinds.count, set(kinds))) == 20
    longer_wins = statistics.mean(len(r["chosen"]) > len(r["rejected"]) for r in pairs["test"])
    assert 0.3 < longer_wins < 0.6  # measured 0.42: length alone is no better than a coin


def test_refusal_prompts_hold_out_whole_templates():
    prompts = I.refusal_prompts()
    train, test = set(prompts["train"]["prompt"]), set(prompts["test"]["prompt"])
    assert not train & test
    for split in (prompts["train"], prompts["test"]):
        assert 0 < sum(split["harmful"]) < len(split)
    stem = {p.split(" ")[0] + p.split(" ")[1] for p in train}
    assert any(p.split(" ")[0] + p.split(" ")[1] not in stem for p in test)
