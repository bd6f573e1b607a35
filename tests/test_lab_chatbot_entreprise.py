"""The Projet 14 lab (enterprise RAG chatbot): shortcuts fail the cells that check them, and the
Streamlit front end works against the lab's API.

Each shortcut copy runs in this process, without nbgrader (test_grading.py grades the solution
and the release): the locked cells, the answer cells (the solution, one of them changed) and
the graded test cells, hidden tests included, under the ci profile, against the run's vLLM
server. A shortcut must fail exactly the test cells that check what it skips, and the solution
none (test_grading.py grades it); cells a shortcut cannot change are skipped to save time. The setup and corpus cells
(imports, generated documents, encoder) run once.

The UI test runs partie-11/chatbot_entreprise_ui.py with ``streamlit.testing.v1.AppTest`` (no
browser: the day-02 capstone has the chromium test) in front of the solution's API, built from
the lab's setup and answer cells with a stub model (no vLLM needed for it).
"""

from __future__ import annotations

import concurrent.futures
import functools
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from lab_copies import failed_test_cells

from course_utils import serving
from course_utils.asgi import running_app
from graders import labs

LAB = "partie-11-chatbot-entreprise"
UI = Path(__file__).resolve().parents[1] / "partie-11" / "chatbot_entreprise_ui.py"
# The copies ask the course's server: run with its other users (tests/conftest.py stops it after them).
pytestmark = [pytest.mark.xdist_group("vllm-server"), pytest.mark.slow]

# the whole page's text: menu, header, aside and footer are indexed
HTML_ALL_TEXT = ("ingestion_answer", "    for tag in soup.find_all(BOILERPLATE):\n        tag.decompose()\n", "")
# the PDF as one section: no page to cite
PDF_ONE_SECTION = (
    "ingestion_answer",
    'return [page for page in pages if page["text"].strip()]',
    'return [{"page": 1, "text": "\\n".join(page["text"] for page in pages)}]',
)
# the library's raw message: no file name, no French word the user can act on
RAW_ERROR = (
    "ingestion_answer",
    'f"{path.name} : fichier illisible ou corrompu ({type(exc).__name__}), à exporter de nouveau."',
    "str(exc)",
)
# fixed-size character windows: sentences cut in the middle
FIXED_SIZE = (
    "chunk_answer",
    "    pieces = units(text, size)\n",
    "    flat = squash(text)\n    return [flat[i : i + size] for i in range(0, len(flat), size - overlap)]\n"
    "    pieces = units(text, size)\n",
)
# no overlap between consecutive chunks
NO_OVERLAP = ("chunk_answer", "        start = following\n", "        start = end\n")
# the filter applied after the search: fewer than k results
POST_FILTER = (
    "index_answer",
    '    return [{**hit.payload, "score": float(hit.score)} for hit in hits]',
    '    return [{**hit.payload, "score": float(hit.score)} for hit in hits'
    ' if department in (None, hit.payload["department"]) and fmt in (None, hit.payload["format"])]',
)
POST_FILTER_QUERY = ("index_answer", "query_filter=models.Filter(must=conditions) if conditions else None,", "")
# a re-ingested document is added next to its old version
NO_REPLACE = (
    "index_answer",
    "    if files:  # un document ingéré de nouveau remplace son ancienne version",
    "    if False:",
)
# the same query whatever the question: the same chunks every time
FIXED_QUERY = (
    "index_answer",
    "query=rag.encode([question])[0].tolist(),",
    'query=rag.encode(["documentation"])[0].tolist(),',
)
# a canned completion in place of the served model's (the ci model writes 0 for most prompts of this corpus:
# the raw completions of test_prompt tell them apart, not the answers they lead to)
CANNED_GENERATE = ("prompt_answer", '"text": completion.choices[0].text,', '"text": " 0",')
# a source of another file that holds the same words counts as relevant
ANY_FILE = ("eval_answer", 'relevant = [s["file"] == fact["file"] and answer', "relevant = [answer")
# an invalid body raises (a 500) instead of a structured 400
NO_BODY_CHECK = (
    "app_answer",
    '            return error("le corps doit être du JSON avec une liste `messages`", "invalid_body")',
    "            raise",
)

TESTS = {"test_ingestion", "test_chunking", "test_index", "test_prompt", "test_api", "test_eval", "test_end_to_end"}
# the locked demo cells, in order, and what the graded cells need of them: sections and errors (ingestion),
# chunks, client (index), nothing (prompt), NOTE (app), scores and baseline_random (bench)
DEMOS = ("ingestion_demo", "chunk_demo", "index_demo", "prompt_demo", "app_demo", "bench")
NEEDS = {
    "test_ingestion": {"ingestion_demo"},
    "test_chunking": {"ingestion_demo", "chunk_demo"},
    "test_index": {"ingestion_demo", "chunk_demo", "index_demo"},
    "test_prompt": {"ingestion_demo", "chunk_demo", "index_demo"},
    "test_api": {"ingestion_demo", "chunk_demo", "index_demo", "app_demo"},
    "test_eval": set(DEMOS),
    "test_end_to_end": set(DEMOS),
}


def _only(*cells: str) -> frozenset[str]:
    """Skip every graded cell but these, and the demo cells they do not need."""
    needed = set().union(*(NEEDS[c] for c in cells))
    return frozenset(TESTS - set(cells)) | frozenset(set(DEMOS) - needed)


CASES = {
    "html_all_text": (
        [HTML_ALL_TEXT],
        {"test_ingestion", "test_end_to_end"},
        _only("test_ingestion", "test_end_to_end"),
    ),
    "pdf_one_section": ([PDF_ONE_SECTION], {"test_ingestion"}, _only("test_ingestion")),
    "raw_library_error": ([RAW_ERROR], {"test_ingestion"}, _only("test_ingestion")),
    "fixed_size_chunks": ([FIXED_SIZE], {"test_chunking"}, _only("test_chunking")),
    "no_overlap": ([NO_OVERLAP], {"test_chunking"}, _only("test_chunking")),
    "post_filter": ([POST_FILTER, POST_FILTER_QUERY], {"test_index"}, _only("test_index", "test_prompt")),
    "no_replace": ([NO_REPLACE], {"test_index", "test_api"}, _only("test_index", "test_api")),
    "fixed_query": ([FIXED_QUERY], {"test_index", "test_end_to_end"}, _only("test_index", "test_end_to_end")),
    "canned_generate": ([CANNED_GENERATE], {"test_prompt"}, _only("test_prompt")),
    "eval_any_file": ([ANY_FILE], {"test_eval"}, _only("test_eval")),
    "no_body_check": ([NO_BODY_CHECK], {"test_api"}, _only("test_api")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup", "corpus"}) == expected


# --- the Streamlit front end ------------------------------------------------------------------


def _solution(source: str) -> str:
    return "\n".join(
        line for line in source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


@functools.cache
def _lab_namespace() -> dict:
    """The lab's setup, corpus and answer cells (solution), run here: no demo, no test, no vLLM."""
    nb = nbformat.read(labs.lab_notebook(LAB), as_version=4)
    namespace = {"__name__": "__main__", "PROFILE": "ci"}
    ready = concurrent.futures.Future()
    ready.set_result(None)
    with mock.patch.object(serving, "start_in_background", return_value=ready):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and (meta.get("grade_id") in ("setup", "corpus") or meta.get("solution")):
                exec(compile(_solution(cell.source), f"<{meta['grade_id']}>", "exec"), namespace)
    return namespace


def _texts(at) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n" + "\n".join(c.value for c in at.caption)


def test_streamlit_ui_talks_to_the_lab_api(monkeypatch):
    from streamlit.testing.v1 import AppTest

    lab = _lab_namespace()
    sections, _ = lab["ingest"](lab["CORPUS"])
    store = lab["build_index"](lab["make_chunks"](sections, lab["cfg"].chunk_size, lab["cfg"].overlap))
    prompts = []

    def stub(prompt: str) -> dict:  # the model always picks the first source
        prompts.append(prompt)
        return {"text": " 0", "prompt_tokens": 3, "completion_tokens": 1}

    fact = next(f for f in lab["FACTS"] if f["department"] == "securite")
    with running_app(lab["create_app"](store, stub)) as server:
        monkeypatch.setenv("ENTREPRISE_API_URL", f"{server.url}/v1")
        at = AppTest.from_file(str(UI), default_timeout=60)
        at.run()
        assert not at.exception and at.title[0].value == "Assistant de la documentation interne"
        # a question: the answer cites its first source, every source is listed with its page or section
        at.chat_input[0].set_value(fact["question"]).run()
        assert not at.exception
        expected = lab["reply"](fact["question"], store, stub, lab["cfg"].k)
        text = _texts(at)
        assert expected["content"] in text
        for source in expected["sources"]:
            where = f"page {source['page']}" if source["page"] is not None else f"section « {source['section']} »"
            assert f"`{source['file']}`, {where}" in text
        # a scope: the filter goes to the API, every source comes from that department
        at.sidebar.selectbox[0].set_value("Informatique").run()
        at.chat_input[0].set_value(fact["question"]).run()
        it_sources = lab["search"](store, fact["question"], lab["cfg"].k, "it")
        assert not at.exception and at.chat_message[-1].markdown[0].value == lab["quote"](it_sources[0])
        # a document: indexed through PUT /v1/documents, then a refused one with the API's French message
        note = lab["docx_bytes"]("Note - parking", ["Le parking du siège ferme à 21 h."])
        docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        at.sidebar.file_uploader[0].set_value(("note-parking.docx", note, docx_type)).run()
        at.sidebar.button[0].click().run()
        assert not at.exception and "rh/note-parking.docx : 1 morceaux indexés" in at.success[0].value
        at.sidebar.file_uploader[0].set_value(("casse.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4, "application/pdf"))
        at.run()
        at.sidebar.button[0].click().run()
        assert at.error and "illisible" in at.error[0].value and "casse.pdf" in at.error[0].value
        # the monitoring: two answered questions, one refused document, one indexed document
        assert "Requêtes : 2" in _texts(at) and "refusées : 1" in _texts(at) and "documents versés : 1" in _texts(at)
    assert len(prompts) == 3  # the two questions of the UI and the reference reply
