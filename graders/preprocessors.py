"""nbgrader preprocessors of the course (configured in graders/nbgrader_config.py)."""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from course_utils.grading_guard import MARK as GUARD_MARK
from graders.labs import is_test_cell

# Prefix of the stderr text that StderrToStdout keeps, as stdout, in a test cell.
STDERR_MARK = "[stderr] "


class StderrToStdout(NbGraderPreprocessor):
    """Keep a test cell's stderr output, as stdout, so that it cannot zero the cell.

    nbgrader scores 0 any test cell with a stderr stream, and libraries write
    warnings there that have nothing to do with the student's answer. A failed
    test still raises (an ``error`` output, scored 0); the text stays visible in
    the feedback, marked with ``STDERR_MARK``, and the pipeline reports it.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and is_test_cell(cell):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
                    output.text = STDERR_MARK + output.text
        return cell, resources


# First line of the cells GuardTestCells inserts (and GuardReport removes).
GUARD_HEADER = "# garde-fou du correcteur : cellule ajoutée pour la correction, puis retirée"


class GuardTestCells(NbGraderPreprocessor):
    """Before each graded test cell, a cell that puts back what the submission switched off.

    It runs ``course_utils.grading_guard.check`` in the kernel (whose start-up
    file kept the originals); :class:`GuardReport` removes these cells after
    execution and records what they found.
    """

    def preprocess(self, nb, resources):
        cells = []
        for cell in nb.cells:
            if cell.cell_type == "code" and is_test_cell(cell):
                grade_id = cell.metadata["nbgrader"]["grade_id"]
                source = (
                    f"{GUARD_HEADER}\nimport course_utils.grading_guard as _course_guard\n\n"
                    f"_course_guard.check({grade_id!r})\ndel _course_guard"
                )
                cells.append(nbformat.v4.new_code_cell(source))
            cells.append(cell)
        nb.cells = cells
        return nb, resources


class GuardReport(NbGraderPreprocessor):
    """Remove the guard's cells; keep what they found in the notebook's metadata.

    ``nb.metadata["course_guard"]``: one line per test cell where something
    was put back, or whose guard did not answer (the submission got in its way).
    Runs after nbconvert's ClearMetadataPreprocessor, which would clear it.
    """

    def preprocess(self, nb, resources):
        findings, kept = [], []
        for cell in nb.cells:
            if cell.cell_type != "code" or not cell.source.startswith(GUARD_HEADER):
                kept.append(cell)
                continue
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            lines = [line for line in text.splitlines() if line.startswith(GUARD_MARK)]
            if not lines:
                findings.append(f"le garde-fou n'a pas répondu ({cell.source.splitlines()[-2]})")
            findings += [line[len(GUARD_MARK) :].strip() for line in lines if not line.endswith(": ok")]
        nb.cells = kept
        nb.metadata["course_guard"] = findings
        return nb, resources
