"""The function-calling lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). The setup cell (the chat model) runs once.
"""

import pytest
from lab_copies import cells_after, failed_test_cells

LAB = "partie-08-function-calling"

# LangChain's converter returned instead of written (forbidden in the student's function)
LIBRARY_SCHEMA = (
    "schema_answer",
    "    hints = get_type_hints(function)\n",
    "    return convert_to_openai_tool(function)\n    hints = get_type_hints(function)\n",
)
# every parameter required, defaults dropped: right on the toolbox (no defaults), wrong on drawn functions
ALL_REQUIRED = (
    "schema_answer",
    "        if parameter.default is inspect.Parameter.empty:\n"
    "            required.append(name)\n"
    "        else:\n"
    '            schema["default"] = parameter.default\n',
    "        required.append(name)\n",
)
# the jsonschema library inside the validator (forbidden), errors named by their path
LIBRARY_VALIDATION = (
    "validation_answer",
    '    properties = parameters.get("properties", {})\n',
    "    validator = jsonschema.Draft202012Validator(parameters)\n"
    "    return [f\"{(list(e.path) or ['arguments'])[0]}: {e.message}\" for e in validator.iter_errors(arguments)]\n",
)
# Python's bool is an int: True accepted as an integer, unlike JSON Schema
BOOL_IS_INTEGER = (
    "validation_answer",
    '"integer": is_number and float(value).is_integer(),',
    '"integer": isinstance(value, (int, float)) and float(value).is_integer(),',
)
# type coercion only: no fuzzy matching of argument names or enum values
NO_FUZZY_KEYS = (
    "repair_answer",
    "if best is not None and similarity(key, best) >= KEY_CUTOFF:",
    "if False:",
)
NO_FUZZY_ENUMS = (
    "repair_answer",
    "return best if similarity(text, str(best)) >= ENUM_CUTOFF else value",
    "return value",
)
# the model's strict tool call only, the most frequent tool otherwise (additions, signatures, malformed calls lost)
STRICT_PARSE_ROUTER = (
    "routing_answer",
    "    routed = []\n",
    '    return [c["name"] if (c := parse_tool_call(a)) else "add_numbers" for a in ask_model(prompts)]\n',
)

# A copy stops after the last cell that must catch its shortcut (it skips the model's later runs).
CASES = {
    "langchain_schema": ([LIBRARY_SCHEMA], {"test_schema"}),
    "defaults_ignored": ([ALL_REQUIRED], {"test_schema"}),
    "jsonschema_validation": ([LIBRARY_VALIDATION], {"test_validation"}),
    "bool_is_integer": ([BOOL_IS_INTEGER], {"test_validation"}),
    "coercion_without_fuzzy_matching": ([NO_FUZZY_KEYS, NO_FUZZY_ENUMS], {"test_repair"}),
    "strict_parse_router": ([STRICT_PARSE_ROUTER], {"test_routing"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits, skip=cells_after(LAB, *expected), reuse={"setup"}) == expected
