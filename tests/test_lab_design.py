"""Design rules of the labs that no solution run can check.

Multiple-choice questions: the right answer must not be findable without knowing it, by picking
the longest (or shortest) option, or always the same position. In the labs, an MCQ is a Markdown
cell with questions ``**q1.** …`` followed by options ``- a) …``; the key is a dict literal
``{"q1": "b", …}`` in a solution block (``### BEGIN SOLUTION``); each graded test cell names the
questions it grades (``"q1"``…). A graded cell gives its points only when all its questions are
right, so no strategy may pass a whole cell, and over a lab each strategy must stay near chance.
"""

import ast
import math
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

LABS = Path(__file__).resolve().parents[1] / "labs"
QUESTION = re.compile(r"^\s*\*\*(q\d+)\.?\*\*", re.M)
OPTION = re.compile(r"^\s*[-*]\s*([a-h])\)\s*(.+?)\s*$", re.M)
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def _plain(text: str) -> str:
    """Option text as a reader sees it: no Markdown emphasis or code marks."""
    return re.sub(r"[*_`]", "", text).strip()


def parse_mcqs(notebook) -> dict:
    """{question id: {"options": {letter: text}, "answer": letter or None, "cells": [graded cell ids]}}."""
    questions = {}
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        starts = [(m.group(1), m.start()) for m in QUESTION.finditer(cell.source)]
        if not starts:
            continue
        for (qid, start), (_, end) in zip(starts, starts[1:] + [(None, len(cell.source))], strict=True):
            options = dict(OPTION.findall(cell.source[start:end]))
            if options:
                questions[qid] = {"options": {k: _plain(v) for k, v in options.items()}, "answer": None, "cells": []}
    if not questions:
        return {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        for block in SOLUTION.findall(cell.source) if meta.get("solution") else []:
            try:
                tree = ast.parse(textwrap.dedent(block))
            except SyntaxError:  # a block inside a function body: never an answer key
                continue
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Dict)
                    and node.keys
                    and all(isinstance(k, ast.Constant) and k.value in questions for k in node.keys)
                ):
                    for k, v in zip(node.keys, node.values, strict=True):
                        if isinstance(v, ast.Constant) and isinstance(v.value, str):
                            questions[k.value]["answer"] = v.value.strip().lower()
        if meta.get("grade"):
            hidden = cell.source.split("### BEGIN HIDDEN TESTS", 1)[-1]
            for qid in questions:
                if re.search(rf"""["']{qid}["']""", hidden):
                    questions[qid]["cells"].append(meta.get("grade_id", cell.get("id")))
    return questions


def _lab_mcqs():
    found = {}
    for path in sorted(LABS.glob("*/*.ipynb")):
        mcqs = parse_mcqs(nbformat.read(path, as_version=4))
        if mcqs:
            found[path.parent.name] = mcqs
    return found


MCQS = _lab_mcqs()

# Strategies that need no knowledge: each picks one letter per question.
STRATEGIES = {
    "la plus longue": lambda opts: max(opts, key=lambda k: (len(opts[k]), k)),
    "la plus courte": lambda opts: min(opts, key=lambda k: (len(opts[k]), k)),
    "la première": lambda opts: min(opts),
    "la dernière": lambda opts: max(opts),
}


def _is_longest(opts, answer):
    """True when the answer is one of the longest options (a tie counts: a student would pick among them)."""
    return len(opts[answer]) >= max(len(v) for v in opts.values())


def test_mcqs_are_found():
    """The parser sees the MCQs the labs actually contain (metrics lab: 8 questions, 2 graded cells)."""
    assert "partie-01-metriques" in MCQS, "no MCQ found: the parser no longer matches how the labs write them"
    assert len(MCQS["partie-01-metriques"]) == 8


@pytest.mark.parametrize("lab", sorted(MCQS))
def test_mcqs_are_well_formed(lab):
    for qid, q in MCQS[lab].items():
        assert len(q["options"]) >= 3, f"{lab} {qid}: at least 3 options"
        assert q["answer"] in q["options"], f"{lab} {qid}: the key ({q['answer']!r}) is not one of the options"
        assert q["cells"], f"{lab} {qid}: no graded cell grades this question"


@pytest.mark.parametrize("lab", sorted(MCQS))
def test_no_strategy_finds_the_answers(lab):
    questions = MCQS[lab]
    n = len(questions)
    # near chance over the lab: at most a third of the questions (chance is 1/4 with 4 options)
    limit = max(1, math.floor(n / 3))
    for name, pick in STRATEGIES.items():
        right = [qid for qid, q in questions.items() if pick(q["options"]) == q["answer"]]
        assert len(right) <= limit, f"{lab}: picking {name} option answers {right} ({len(right)}/{n})"
    ties = [qid for qid, q in questions.items() if _is_longest(q["options"], q["answer"])]
    assert len(ties) <= limit, f"{lab}: the answer is (one of) the longest option(s) for {ties}"
    letters = [q["answer"] for q in questions.values()]
    for letter in set(letters):
        assert letters.count(letter) <= max(1, math.ceil(n / 2) - 1), f"{lab}: {letter!r} answers too many questions"
    # no strategy, and no constant letter, passes a whole graded cell
    cells = {}
    for qid, q in questions.items():
        for cell in q["cells"]:
            cells.setdefault(cell, []).append(qid)
    for cell, qids in cells.items():
        if len(qids) < 2:
            continue
        for name, pick in STRATEGIES.items():
            assert any(pick(questions[q]["options"]) != questions[q]["answer"] for q in qids), (
                f"{lab}: picking {name} option passes the graded cell {cell}"
            )
        assert len({questions[q]["answer"] for q in qids}) > 1, f"{lab}: one letter passes the graded cell {cell}"


def test_the_checks_catch_a_longest_answer_design():
    """Self-test on a made-up lab where the right answer is always the most detailed option."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "\n\n".join(
                f"**q{i}.** Question ?\n- a) Non.\n- b) Oui, et voici une explication longue et précise.\n- c) Peut-être."
                for i in range(1, 4)
            )
        ),
        nbformat.v4.new_code_cell(
            'answers = {}\n### BEGIN SOLUTION\nanswers = {"q1": "b", "q2": "b", "q3": "b"}\n### END SOLUTION',
            metadata={"nbgrader": {"solution": True}},
        ),
        nbformat.v4.new_code_cell(
            '### BEGIN HIDDEN TESTS\nkey = dict(zip(["q1", "q2", "q3"], "bbb"))\n### END HIDDEN TESTS',
            metadata={"nbgrader": {"grade": True, "grade_id": "t"}},
        ),
    ]
    questions = parse_mcqs(nb)
    assert {q: v["answer"] for q, v in questions.items()} == {"q1": "b", "q2": "b", "q3": "b"}
    assert all(v["cells"] == ["t"] for v in questions.values())
    assert all(STRATEGIES["la plus longue"](v["options"]) == "b" for v in questions.values())
