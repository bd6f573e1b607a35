"""The agent lab's (Projet 11) tests catch plausible shortcuts and hostile tools.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). The setup cell (imports, the corpus) runs once.
"""

import pytest
from lab_copies import cells_after, failed_test_cells

LAB = "partie-08-agent"

# the classic "safe" calculator: eval without builtins (escapable through ().__class__.__bases__)
EVAL_CALCULATOR = (
    "calculator_answer",
    '        raise ValueError(f"expression invalide : {exc.msg}") from None\n    return _evaluate(tree.body)',
    '        raise ValueError(f"expression invalide : {exc.msg}") from None\n'
    '    return eval(expression, {"__builtins__": {}}, {**CALC_NAMES, **CALC_FUNCTIONS})',
)
# an AST whitelist without bounds on powers: 9 ** 9 ** 9 blocks the kernel for minutes (the size bound alone:
# ((10 ** 100) ** 1000) ** 1000 still does)
UNBOUNDED_POWER = (
    "calculator_answer",
    "    if abs(exponent) > MAX_EXPONENT:",
    "    if False:",
)
UNBOUNDED_POWER_BITS = (
    "calculator_answer",
    "        if abs(base).bit_length() * exponent > MAX_POWER_BITS:",
    "        if False:",
)
# a subprocess with a timeout only: the kernel's environment, no memory limit, the network open
UNLIMITED_SANDBOX = (
    "sandbox_answer",
    '    limits = [str(memory_mb * 2**20), str(math.ceil(timeout_s) + 1)]\n    with tempfile.TemporaryDirectory(prefix="bac-a-sable-") as folder:',
    "    try:\n"
    '        done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=timeout_s)\n'
    "    except subprocess.TimeoutExpired as exc:\n"
    '        return {"stdout": _decode_output(exc.stdout), "stderr": _decode_output(exc.stderr), '
    '"returncode": None, "timed_out": True}\n'
    '    return {"stdout": _decode_output(done.stdout), "stderr": _decode_output(done.stderr), '
    '"returncode": done.returncode, "timed_out": False}\n'
    '    with tempfile.TemporaryDirectory(prefix="bac-a-sable-") as folder:',
)
# confinement by string prefix: the sibling folder "<sandbox>-voisin" passes
PREFIX_CHECK = (
    "files_answer",
    "if not resolved.is_relative_to(SANDBOX_DIR):",
    "if not str(resolved).startswith(str(SANDBOX_DIR)):",
)
# confinement by normpath: ".." handled, symbolic links not followed
NORMPATH_CHECK = (
    "files_answer",
    "    resolved = (SANDBOX_DIR / path).resolve()",
    "    resolved = Path(os.path.normpath(SANDBOX_DIR / path))",
)
# temperatures converted by a factor, like lengths
TEMPERATURE_FACTOR = (
    "data_answer",
    'kelvin = {"C": value + 273.15, "F": (value - 32) / 1.8 + 273.15, "K": value}[source]',
    'kelvin = {"C": value, "F": value / 1.8, "K": value}[source]',
)
TEMPERATURE_FACTOR_BACK = (
    "data_answer",
    'return {"C": kelvin - 273.15, "F": (kelvin - 273.15) * 1.8 + 32, "K": kelvin}[target]',
    'return {"C": kelvin, "F": kelvin * 1.8, "K": kelvin}[target]',
)
# a CSV split on commas (quoted fields break it)
CSV_SPLIT = (
    "data_answer",
    "    reader = csv.DictReader(io.StringIO(text))",
    "    lines = text.splitlines()\n"
    '    reader = [dict(zip(lines[0].split(","), line.split(","))) for line in lines[1:]]\n'
    '    reader = type("R", (list,), {"fieldnames": lines[0].split(",") if lines else []})(reader)',
)
# a tool error sends the model back forever: no retry budget
UNBOUNDED_RETRIES = (
    "agent_answer",
    'return "give_up" if state["failures"] > max_retries else "model"',
    'return "model"',
)
# the destructive tool runs without asking
NO_CONFIRMATION = (
    "agent_answer",
    'return "confirm" if any(call["name"] in DESTRUCTIVE_TOOLS for call in calls) else "tools"',
    'return "tools"',
)
# long-term memory shared by every user
MEMORY_WITHOUT_USER = (
    "tools_answer",
    'return (MEMORY_NAMESPACE, runtime.config.get("configurable", {}).get("user_id", "anonyme"))',
    "return (MEMORY_NAMESPACE,)",
)

# A copy stops after the last cell that must catch its shortcut (it then skips the agent's runs).
CASES = {
    "calculator_with_eval": ([EVAL_CALCULATOR], {"test_calculator"}),
    "calculator_unbounded_power": ([UNBOUNDED_POWER, UNBOUNDED_POWER_BITS], {"test_calculator"}),
    "calculator_power_without_size_bound": ([UNBOUNDED_POWER_BITS], {"test_calculator"}),
    "sandbox_without_limits": ([UNLIMITED_SANDBOX], {"test_sandbox", "test_tools"}),
    "files_prefix_check": ([PREFIX_CHECK], {"test_files"}),
    "files_normpath_check": ([NORMPATH_CHECK], {"test_files"}),
    "temperatures_by_factor": ([TEMPERATURE_FACTOR, TEMPERATURE_FACTOR_BACK], {"test_data_tools"}),
    "csv_split_on_commas": ([CSV_SPLIT], {"test_data_tools", "test_tools"}),
    "unbounded_retries": ([UNBOUNDED_RETRIES], {"test_agent"}),
    "no_confirmation": ([NO_CONFIRMATION], {"test_interrupt"}),
    "memory_without_user": ([MEMORY_WITHOUT_USER], {"test_memory"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits, skip=cells_after(LAB, *expected), reuse={"setup"}) == expected
