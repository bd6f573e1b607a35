"""Offline corpora, exposed as Hugging Face ``datasets`` objects.

Nothing here downloads. The real text comes from the Python installation that
runs the notebook: the standard library's sources, their docstrings and the
reference documentation shipped in ``pydoc_data``. Generated text comes from
seeded templates, so that it is the same on every machine.
"""

from __future__ import annotations

import ast
import functools
import random
import sysconfig
import tokenize
from pathlib import Path

from datasets import Dataset

# Folders of the standard library that are not library code (tests, IDLE, caches).
_SKIPPED_PARTS = {"test", "tests", "idle_test", "idlelib", "site-packages", "__pycache__", "turtledemo"}


def stdlib_root() -> Path:
    """The folder of the standard library of the running interpreter."""
    return Path(sysconfig.get_paths()["stdlib"])


@functools.cache
def _stdlib_files() -> tuple[tuple[str, str], ...]:
    root = stdlib_root()
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if _SKIPPED_PARTS & set(rel.parts) or rel.parts[0].startswith("config-"):
            continue
        try:
            with tokenize.open(path) as handle:  # honours PEP 263 encodings
                text = handle.read()
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        found.append((rel.as_posix(), text))
    return tuple(found)


def _module_name(rel_path: str) -> str:
    name = rel_path[: -len(".py")].replace("/", ".")
    return name[: -len(".__init__")] if name.endswith(".__init__") else name


def stdlib_sources(max_files: int | None = None) -> Dataset:
    """Source files of the standard library: columns ``module``, ``path``, ``text``.

    Files are sorted by path, so ``max_files`` always picks the same ones.
    """
    files = _stdlib_files()[:max_files]
    if not files:
        raise FileNotFoundError(f"Aucun fichier source trouvé dans {stdlib_root()}.")
    return Dataset.from_dict(
        {
            "module": [_module_name(p) for p, _ in files],
            "path": [p for p, _ in files],
            "text": [t for _, t in files],
        }
    )


def _docstrings(rel_path: str, text: str):
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return
    module = _module_name(rel_path)
    nodes = [(module, "module", tree)]
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            nodes.append((f"{module}.{node.name}", "class", node))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nodes.append((f"{module}.{node.name}", "function", node))
    for name, kind, node in nodes:
        doc = ast.get_docstring(node)
        if doc and len(doc) >= 20:
            yield name, kind, doc


def stdlib_docstrings(max_files: int | None = None) -> Dataset:
    """Docstrings of the standard library (read with ``ast``, nothing imported).

    Columns: ``object`` (dotted name), ``kind`` (module/class/function), ``text``.
    """
    rows = [row for path, text in _stdlib_files()[:max_files] for row in _docstrings(path, text)]
    return Dataset.from_dict(
        {
            "object": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "text": [r[2] for r in rows],
        }
    )


def stdlib_docs() -> Dataset:
    """The reference documentation topics shipped with Python (``pydoc_data``).

    Columns: ``topic`` and ``text`` (English prose with code examples).
    """
    from pydoc_data.topics import topics

    names = sorted(topics)
    return Dataset.from_dict({"topic": names, "text": [topics[n] for n in names]})


# --- generated text --------------------------------------------------------

_SUBJECTS = ["Le modèle", "L'équipe", "La base vectorielle", "Le tokenizer", "L'agent", "Le serveur"]
_VERBS = ["prédit", "indexe", "génère", "évalue", "filtre", "résume"]
_OBJECTS = [
    "la réponse suivante",
    "les documents pertinents",
    "un paragraphe en français",
    "les requêtes des utilisateurs",
    "des données personnelles",
    "le prochain jeton",
]
_ENDINGS = [
    "avant la mise en production.",
    "en moins d'une seconde.",
    "à chaque itération.",
    "sans accès réseau.",
    "pour l'été.",
]


def french_sentences(n: int = 1000, seed: int = 0) -> Dataset:
    """Generated French sentences (accents included), column ``text``.

    A small grammar with seeded choices: the same ``(n, seed)`` always gives
    the same sentences, whatever the machine.
    """
    if n < 0:
        raise ValueError("Le nombre de phrases doit être positif ou nul.")
    rng = random.Random(seed)
    texts = [
        f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}" for _ in range(n)
    ]
    return Dataset.from_dict({"text": texts})
