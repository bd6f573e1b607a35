import ast

from course_utils import data


def test_stdlib_sources_are_real_sorted_python():
    ds = data.stdlib_sources()
    assert ds.num_rows > 300
    assert list(ds["path"]) == sorted(ds["path"])
    first = data.stdlib_sources(max_files=5)
    assert list(first["path"]) == list(ds["path"][:5])
    row = ds[ds["module"].index("json.decoder")]
    ast.parse(row["text"])  # real, parseable code
    assert not any(p.startswith(("test/", "idlelib/")) for p in ds["path"])


def test_docstrings_and_docs():
    docs = data.stdlib_docstrings(max_files=50)
    assert docs.num_rows > 50 and set(docs["kind"]) <= {"module", "class", "function"}
    topics = data.stdlib_docs()
    assert "assignment" in topics["topic"] and all(len(t) > 100 for t in topics["text"][:10])


def test_generated_french_sentences_are_deterministic():
    a, b = data.french_sentences(50, seed=3), data.french_sentences(50, seed=3)
    assert a["text"] == b["text"]
    assert a["text"] != data.french_sentences(50, seed=4)["text"]
    assert any("é" in t or "è" in t for t in a["text"])
