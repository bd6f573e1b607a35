"""Run notebooks under a profile with papermill and summarise their figures."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat

from .figures import figures_from_notebook
from .profiles import ENV_VAR, current_profile


def run_notebooks(notebooks: list[Path], profile: str, out_dir: Path, root: Path) -> dict:
    """Execute each notebook with ``PROFILE=profile``; write executed copies and a summary.

    Returns the summary: one entry per notebook with its status, duration and
    recorded figures. A failing notebook is reported and the others still run.
    """
    import papermill

    profile = current_profile(profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_VAR] = profile  # kernels inherit it: helpers see the same profile
    summary = {"profile": profile, "notebooks": []}
    for notebook in notebooks:
        notebook = notebook.resolve()
        if not notebook.is_file() or notebook.suffix != ".ipynb":
            raise FileNotFoundError(f"Notebook introuvable : {notebook}")
        try:
            relative = notebook.relative_to(root)
        except ValueError:
            relative = Path(notebook.name)
        executed = out_dir / relative
        executed.parent.mkdir(parents=True, exist_ok=True)
        entry = {"notebook": relative.as_posix(), "executed": str(executed), "status": "ok", "error": ""}
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(notebook),
                str(executed),
                parameters={"PROFILE": profile},
                cwd=str(notebook.parent),
                kernel_name="python3",
                progress_bar=False,
            )
        except Exception as exc:  # papermill raises after saving the partial notebook
            entry["status"], entry["error"] = "failed", f"{type(exc).__name__}: {str(exc)[:500]}"
        entry["seconds"] = round(time.perf_counter() - start, 1)
        entry["figures"] = figures_from_notebook(nbformat.read(executed, as_version=4)) if executed.exists() else []
        summary["notebooks"].append(entry)
    (out_dir / "figures.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    (out_dir / "figures.md").write_text(markdown_summary(summary), encoding="utf-8")
    return summary


def markdown_summary(summary: dict) -> str:
    lines = [
        f"# Figures enregistrées (profil `{summary['profile']}`)",
        "",
        "| Notebook | Statut | Durée (s) | Figure | Valeur | Unité |",
        "|---|---|---|---|---|---|",
    ]
    for entry in summary["notebooks"]:
        figures = entry["figures"] or [{"name": "—", "value": "", "unit": ""}]
        for i, fig in enumerate(figures):
            head = (entry["notebook"], entry["status"], entry["seconds"]) if i == 0 else ("", "", "")
            value = f"{fig['value']:.6g}" if isinstance(fig["value"], float) else fig["value"]
            lines.append(f"| {head[0]} | {head[1]} | {head[2]} | {fig['name']} | {value} | {fig['unit']} |")
    return "\n".join(lines) + "\n"
