"""nbgrader preprocessors of the course (configured in graders/nbgrader_config.py)."""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor

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
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
                    output.text = STDERR_MARK + output.text
        return cell, resources
