"""nbgrader configuration and the grading pipeline."""
