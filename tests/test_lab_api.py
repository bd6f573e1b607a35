"""The API gateway lab's tests catch plausible shortcuts, against the run's vLLM server.

Each copy runs in this process, without nbgrader (test_grading.py grades the solution
and the release): the locked cells, the answer cells (the solution, one of them
changed) and the graded test cells, hidden tests included, under the ci profile, on
one event loop as IPython runs top-level ``await``; the gateways the cells start run
in uvicorn threads of this process. A shortcut must fail exactly the test cells that
check what it skips, and the solution none (test_grading.py grades it). The setup cell (imports) runs once.
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-10-api"
# The gateway forwards to the course's server: run with its other users (tests/conftest.py stops it after them).
pytestmark = [pytest.mark.xdist_group("vllm-server"), pytest.mark.slow]

# a gateway that answers with a fixed completion instead of asking the served model
CANNED_TEXT = (
    "gateway_answer",
    "                answer = await create(**params)",
    "                answer = openai.types.Completion.model_validate({\n"
    '                    "id": "cmpl-fixe", "object": "text_completion", "created": 0, "model": MODEL,\n'
    '                    "choices": [{"index": 0, "text": "    return None\\n", "finish_reason": "stop"}],\n'
    '                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},\n'
    "                })",
)
# one bucket for everybody: a noisy client blocks the others
GLOBAL_LIMITER = ("gateway_answer", "wait = limiter.acquire(client)", 'wait = limiter.acquire("tous")')
# "retry in a second", whatever the bucket says
CONSTANT_RETRY_AFTER = ("bucket_answer", "return str(max(1, math.ceil(wait)))", 'return "1"')
# tokens counted from the request (max_tokens) instead of the usage the model reports
TOKENS_FROM_REQUEST = (
    "gateway_answer",
    "finish(200, usage.prompt_tokens, usage.completion_tokens)",
    'finish(200, usage.prompt_tokens, params.get("max_tokens", 16))',
)
# the raw body kept in the log "for debugging", next to the redacted input
RAW_BODY_LOGGED = (
    "gateway_answer",
    "fields.update(redacted_input(route, body))",
    "fields.update(redacted_input(route, body), body=body)",
)

# cells that a case does not need: the load test, and the rate limit test (it waits for Retry-After)
LOAD = {"load_answer", "bench", "test_load"}
SLOW = LOAD | {"test_rate_limit"}
CASES = {
    "canned_text": ([CANNED_TEXT], {"test_forward", "test_stream", "test_logs", "test_load"}, {"test_rate_limit"}),
    "global_limiter": ([GLOBAL_LIMITER], {"test_rate_limit", "test_logs"}, LOAD),
    "constant_retry_after": ([CONSTANT_RETRY_AFTER], {"test_bucket", "test_rate_limit"}, LOAD),
    "tokens_from_request": ([TOKENS_FROM_REQUEST], {"test_metrics"}, SLOW),
    "raw_body_logged": ([RAW_BODY_LOGGED], {"test_logs"}, SLOW),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup"}) == expected
