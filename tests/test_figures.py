import nbformat
import numpy as np
import pytest

from course_utils.figures import MIME_TYPE, figure_entry, figures_from_notebook, record


def test_record_accepts_numpy_and_torch_scalars():
    import torch

    assert figure_entry("loss", torch.tensor(1.5), "nats") == {"name": "loss", "value": 1.5, "unit": "nats"}
    assert figure_entry("steps", np.int64(3))["value"] == 3
    assert record("loss", 1.5) is None  # a cell ending with record() shows only the figure


def test_record_rejects_arrays_and_empty_names():
    with pytest.raises(TypeError, match="nombre"):
        record("x", [1, 2])
    with pytest.raises(ValueError):
        record("", 1.0)


def test_figures_are_read_back_from_an_executed_notebook():
    cell = nbformat.v4.new_code_cell("record(...)")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/plain": "x", MIME_TYPE: {"name": "a", "value": 1, "unit": ""}}
        ),
        nbformat.v4.new_output("stream", text="bruit"),
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("titre"), cell])
    assert figures_from_notebook(nb) == [{"name": "a", "value": 1, "unit": ""}]
