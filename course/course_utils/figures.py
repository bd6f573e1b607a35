"""Recorded figures: the numbers a notebook wants to be remembered by.

``record("val_loss", 1.23)`` prints the figure for the reader and embeds it in
the notebook output under a dedicated MIME type, so that a papermill run can
collect every figure from the executed notebook (see :mod:`course_utils.runner`).
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

MIME_TYPE = "application/vnd.course.figure+json"


def _plain(value: Any) -> float | int | str | bool:
    if hasattr(value, "item"):  # numpy and torch scalars
        value = value.item()
    if isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"Une figure doit être un nombre, un booléen ou un texte, pas {type(value).__name__}.")


def figure_entry(name: str, value: Any, unit: str = "") -> dict:
    """The recorded form of a figure: plain JSON types only."""
    if not name or not isinstance(name, str):
        raise ValueError("Le nom d'une figure doit être un texte non vide.")
    return {"name": name, "value": _plain(value), "unit": unit}


def record(name: str, value: Any, unit: str = "") -> None:
    """Record a named figure and show it (returns None: nothing extra is displayed)."""
    entry = figure_entry(name, value, unit)
    shown = entry["value"]
    if isinstance(shown, float) and math.isfinite(shown):
        shown = f"{shown:.6g}"
    text = f"[figure] {name} = {shown}{(' ' + unit) if unit else ''}"
    try:
        from IPython.display import display
    except ImportError:
        print(text)
    else:
        display({"text/plain": text, MIME_TYPE: entry}, raw=True)


def figures_from_notebook(nb: dict) -> list[dict]:
    """Return the figures recorded in an executed notebook, in order."""
    found = []
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            data = output.get("data", {})
            if MIME_TYPE in data:
                entry = data[MIME_TYPE]
                found.append(json.loads(entry) if isinstance(entry, str) else dict(entry))
    return found
