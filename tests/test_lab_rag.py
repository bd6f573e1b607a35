"""The RAG lab's (Projet 10) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). The setup cell (the corpus, its vectors) runs once, and a copy skips
the cells its shortcut cannot change.
"""

import pytest
from lab_copies import cells_after, failed_test_cells

LAB = "partie-08-rag"

HYBRID = (
    "    return [\n"
    "        [doc for doc, _ in convex_fusion(lexical, cosines, ALPHA)[:k]]\n"
    "        for lexical, cosines in hybrid_candidates(question_texts, question_vectors)\n"
    "    ]"
)
# the stronger engine alone, returned as the "hybrid" (BM25 beats dense on this corpus)
BM25_ONLY = ("hybrid_answer", HYBRID, "    return bm25_search(bm25_index, question_texts, k)[0]")
# the weaker engine alone
DENSE_ONLY = ("hybrid_answer", HYBRID, "    return dense_search(flat_index, question_vectors, k)[0]")
# reciprocal rank fusion with equal weights: no tuning, and below BM25 here
EQUAL_RRF = (
    "hybrid_answer",
    HYBRID,
    "    lexical, _ = bm25_search(bm25_index, question_texts, CANDIDATES)\n"
    "    dense, _ = dense_search(flat_index, question_vectors, CANDIDATES)\n"
    "    return [[doc for doc, _ in rrf_fusion([a, b])[:k]] for a, b in zip(lexical, dense, strict=True)]",
)
# the course's reference metric called instead of written
LIBRARY_RECALL = (
    "metrics_answer",
    "    relevant = set(answers)\n    return len(relevant.intersection(ranked[:k])) / len(relevant)",
    "    return rag.recall_at_k(ranked, answers, k)",
)
# one result too many counted
OFF_BY_ONE = ("metrics_answer", "relevant.intersection(ranked[:k])", "relevant.intersection(ranked[: k + 1])")
# consecutive chunks share nothing
NO_OVERLAP = ("chunking_answer", "while total > chunk_overlap or", "while total > 0 or")
# HNSW left with faiss's default efSearch (16): fast, but recall@10 ~0.84
DEFAULT_EF_SEARCH = (
    "engines_answer",
    "    index.hnsw.efSearch = 128  # 16 par défaut : recall@10 ~0,84 seulement\n",
    "",
)

# A shortcut of the fusion runs without the earlier test cells (it cannot change them);
# one caught by an earlier cell stops there: the indexes, the tuning and the hidden
# evaluation (BM25 re-indexed, 1 500 questions) cost seconds per copy.
BEFORE_FUSION = frozenset({"test_metrics", "test_chunking", "chunk_corpus", "test_engines", "test_fusion"})
CASES = {
    "bm25_only": ([BM25_ONLY], {"test_tuning", "test_hybrid"}, BEFORE_FUSION),
    "dense_only": ([DENSE_ONLY], {"test_tuning", "test_hybrid"}, BEFORE_FUSION),
    "equal_weight_rrf": ([EQUAL_RRF], {"test_tuning", "test_hybrid"}, BEFORE_FUSION),
    "recall_from_course_utils": ([LIBRARY_RECALL], {"test_metrics"}, cells_after(LAB, "test_metrics")),
    "recall_off_by_one": ([OFF_BY_ONE], {"test_metrics"}, cells_after(LAB, "test_metrics")),
    "chunks_without_overlap": ([NO_OVERLAP], {"test_chunking"}, cells_after(LAB, "test_chunking")),
    "hnsw_default_ef_search": ([DEFAULT_EF_SEARCH], {"test_engines"}, cells_after(LAB, "test_engines")),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup"}) == expected
