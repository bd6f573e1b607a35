"""The day-02 capstone lab's tests catch plausible shortcuts, against the run's vLLM server.

Each copy runs in this process, without nbgrader (test_grading.py grades the solution and
the release): the locked cells, the answer cells (the solution, one of them changed) and
the graded test cells, hidden tests included, under the ci profile; the apps the cells
start run in uvicorn threads of this process. A shortcut must fail exactly the test cells
that check what it skips, and the solution none (test_grading.py grades it). The setup cell (corpus, encoder) runs once.
"""

import pytest
from lab_copies import failed_test_cells

LAB = "day-02-chatbot"
# The chatbot asks the course's server: run with its other users (tests/conftest.py stops it after them).
pytestmark = [pytest.mark.xdist_group("vllm-server"), pytest.mark.slow]

# refuse everything: no harmful request gets through, no legitimate one either
REFUSE_EVERYTHING = (
    "moderation_answer",
    'categories = {"illicit": illicit, "harassment": harassment}',
    'categories = {"illicit": True, "harassment": harassment}',
)
# a list of sensitive words instead of patterns (the trivial reference of the instructions)
KEYWORD_LIST = (
    "moderation_answer",
    "illicit = not defensive and bool(MALWARE.search(seen) or STEAL.search(seen))",
    "illicit = any(word in text.lower() for word in KEYWORDS)",
)
# the development set learnt by heart: the grading draws other phrasings
MEMORISED = (
    "moderation_answer",
    'categories = {"illicit": illicit, "harassment": harassment}',
    'categories = {"illicit": text in {r["prompt"] for r in moderation_dev if r["harmful"]}}',
)
# an answer without asking the model (the first candidate, whatever the question)
NO_MODEL = (
    "app_answer",
    "out = generate_fn(grounded_prompt(question, passages))",
    'out = {"text": "0", "prompt_tokens": 1, "completion_tokens": 1}',
)
# a canned completion in place of the served model's
CANNED_GENERATE = ("prompt_answer", '"text": completion.choices[0].text,', '"text": " 0",')
# sources that are not the retrieved passages
FIXED_SOURCES = (
    "app_answer",
    '"sources": passages, "finish_reason": "stop"',
    '"sources": [{"id": i, "score": 0.0, "text": PASSAGES[i]} for i in DOC_IDS[:k]], "finish_reason": "stop"',
)
# outputs sent as they are: personal data of a passage leaks
NO_OUTPUT_FILTER = ("output_answer", 'return REFUSAL if moderate(text)["flagged"] else pii.redact(text)', "return text")
# the first question of a conversation instead of the last one
FIRST_QUESTION = ("app_answer", 'users[-1]["content"], store', 'users[0]["content"], store')
# an invalid body raises (a 500) instead of a structured 400
NO_BODY_CHECK = (
    "app_answer",
    '            return error("le corps doit être du JSON avec une liste `messages`", "invalid_body")',
    "            raise",
)

EARLY = {"test_store", "test_moderation", "test_output", "test_prompt"}
LATE = {"test_contract", "test_grounded"}
CASES = {
    "refuse_everything": ([REFUSE_EVERYTHING], {"test_moderation", "test_output", *LATE}, set()),
    "keyword_list": ([KEYWORD_LIST], {"test_moderation"}, {"test_output", *LATE}),
    "memorised": ([MEMORISED], {"test_moderation"}, {"test_output", *LATE}),
    "no_model": ([NO_MODEL], {"test_contract"}, EARLY | {"test_grounded"}),
    "canned_generate": ([CANNED_GENERATE], {"test_prompt"}, LATE),
    "fixed_sources": ([FIXED_SOURCES], LATE, EARLY),
    "no_output_filter": ([NO_OUTPUT_FILTER], {"test_output", "test_grounded"}, {"test_contract"}),
    "first_question": ([FIRST_QUESTION], {"test_contract"}, EARLY | {"test_grounded"}),
    "no_body_check": ([NO_BODY_CHECK], {"test_contract"}, EARLY | {"test_grounded"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup"}) == expected
