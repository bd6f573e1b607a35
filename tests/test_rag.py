"""The retrieval corpus of partie-08: 10 000+ real documents, questions whose answers are known and drawn from a
seed, reference metrics equal to hand computations, cached embeddings aligned with the documents."""

import math

import numpy as np
import pytest

from course_utils import rag


@pytest.fixture(scope="module")
def docs():
    return rag.stdlib_documents()


def test_one_document_per_public_object_with_its_signature_and_docstring(docs):
    assert len(docs) >= 10_000
    assert len(set(docs["id"])) == len(docs)
    assert set(docs["kind"]) == set(rag.KINDS)
    assert not [i for i in docs["id"] if any(part.startswith("_") for part in i.split("."))]
    by_id = {row["id"]: row for row in docs}
    dumps = by_id["json.dumps"]
    assert dumps["module"] == "json" and dumps["kind"] == "function"
    assert dumps["signature"].startswith("def dumps(obj, *, skipkeys=False")
    assert dumps["docstring"].startswith("Serialize ``obj`` to a JSON formatted ``str``.")
    assert dumps["text"].startswith("json.dumps\ndef dumps(") and dumps["docstring"] in dumps["text"]
    assert by_id["collections.OrderedDict"]["kind"] == "class"
    assert by_id["pathlib.Path.read_text"]["kind"] == "method"
    assert by_id["json"]["signature"] == "module json"
    # definitions under `if`/`try` count too (os defines some functions conditionally)
    assert "os.makedirs" in by_id and "os.fwalk" in by_id


def test_questions_are_seeded_and_their_answers_are_in_the_corpus(docs):
    pool = rag.question_pool()
    assert len(pool) > 4000 and set(pool["kind"]) == set(rag.QUESTION_KINDS)
    first = rag.question_set(200, seed=3)
    assert first["row"] == rag.question_set(200, seed=3)["row"]
    assert len(set(first["row"]) & set(rag.question_set(200, seed=4)["row"])) < 40
    assert [pool[r]["question"] for r in first["row"]] == first["question"]
    ids = set(docs["id"])
    kinds = {kind: 0 for kind in rag.QUESTION_KINDS}
    for row in first:
        kinds[row["kind"]] += 1
        assert row["answers"] and set(row["answers"]) <= ids and len(row["answers"]) <= rag._MAX_ANSWERS
        # the question never names its answer
        assert not any(answer.split(".")[-1].lower() in row["question"].lower().split() for answer in row["answers"])
    assert kinds == {"description": 120, "signature": 50, "module": 30}
    with pytest.raises(ValueError, match="types de questions inconnus"):
        rag.question_set(10, mix={"poésie": 1.0})


def test_reference_metrics_match_hand_computations():
    ranked = ["d3", "d1", "d7", "d2", "d9"]
    assert rag.recall_at_k(ranked, ["d1", "d2"], 2) == 0.5
    assert rag.recall_at_k(ranked, ["d1", "d2"], 4) == 1.0
    assert rag.recall_at_k(ranked, ["d8"], 5) == 0.0
    assert rag.reciprocal_rank(ranked, ["d7", "d2"]) == pytest.approx(1 / 3)
    assert rag.reciprocal_rank(ranked, ["d8"]) == 0.0
    # relevant at ranks 2 and 4; ideal: ranks 1 and 2
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert rag.ndcg_at_k(ranked, ["d1", "d2"], 5) == pytest.approx(expected)
    assert rag.ndcg_at_k(ranked, ["d3"], 5) == 1.0


def test_cached_embeddings_are_the_documents_unit_vectors(docs):
    ids, vectors = rag.document_embeddings()
    assert ids == docs["id"] and vectors.shape == (len(docs), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    rows = [ids.index("json.dumps"), ids.index("zipfile.ZipFile")]
    np.testing.assert_allclose(rag.encode([rag.embedding_text(docs[i]) for i in rows]), vectors[rows], atol=1e-4)
    # the encoder understands the question: the right document is the closest of these two
    query = rag.encode(["How do I write a Python object as a JSON string?"])[0]
    assert vectors[rows[0]] @ query > vectors[rows[1]] @ query
    questions = rag.question_embeddings()
    assert questions.shape == (len(rag.question_pool()), 384)
    np.testing.assert_allclose(rag.encode([rag.question_pool()[7]["question"]])[0], questions[7], atol=1e-4)


def test_encoder_equals_sentence_transformers():
    """rag.encode runs MiniLM with transformers alone: the same vectors as the reference library."""
    from course_utils.models import load_embedding_model

    texts = ["json.dumps: Serialize obj to a JSON formatted str.", "Déjà vu", "x", " ".join(["word"] * 400)]
    reference = load_embedding_model()
    reference.max_seq_length = rag.EMBEDDING_MAX_TOKENS  # as the course's cache was built
    expected = reference.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(rag.encode(texts, batch_size=3), expected, atol=1e-5)
    assert np.allclose(np.linalg.norm(rag.encode(texts), axis=1), 1.0, atol=1e-5)
