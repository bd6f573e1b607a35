# nbgrader configuration shared by every lab (nbgrader 0.9.6).
# The grading pipeline (graders/release.py) copies this file into each
# working course directory; `labs/` itself is never written to.
c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "cours-llm"

# What students see in place of the solutions (French, like the labs).
c.ClearSolutions.code_stub = {"python": "# VOTRE CODE ICI\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "VOTRE RÉPONSE ICI"

# Hidden tests: same markers as nbgrader's defaults, stated for the reader.
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# Students using Colab (no nbgrader extension) can delete read-only cells:
# put the graded cells back from the gradebook before grading.
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = (
    "Cette cellule (id : {cell_id}) manquait dans la copie rendue ; nbgrader l'a remise.\n\n"
)

# Per-cell limit; the pipeline overrides it from its --cell-timeout option.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Library noise on stderr must never zero a test cell: our StderrToStdout takes the
# place of nbgrader's IgnorePattern, right after execution (see graders/preprocessors.py).
from nbconvert.preprocessors import ClearMetadataPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    LimitOutput,
    SaveAutoGrades,
)

from graders.preprocessors import GuardReport, GuardTestCells, StderrToStdout  # noqa: E402

# GuardTestCells puts back, before each test cell, what a submission switched off
# (course_utils.grading_guard); GuardReport removes those cells and records what they found.
c.Autograde.autograde_preprocessors = [
    GuardTestCells,
    Execute,
    StderrToStdout,
    ClearMetadataPreprocessor,
    GuardReport,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
