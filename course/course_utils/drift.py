"""Request streams whose distribution shifts at a known point (partie-10, drift chapter and lab).

A request has two inputs a drift monitor watches:

* ``vectors``: the MiniLM embedding of a standard-library document
  (:func:`course_utils.rag.document_embeddings`), the document drawn from a mix of
  *topics* (groups of stdlib modules: web, concurrency, files...). Reference traffic
  mixes :data:`REFERENCE_TOPICS`; a topic drift brings in one of
  :data:`NEW_TOPICS` with a given share (embedding drift, the mean moves).
* ``lengths``: the prompt length in tokens, drawn independently of the document
  (conversation history included): reference ``N(LENGTH_MEAN, LENGTH_SD)`` rounded;
  a length drift multiplies the spread by ``length_scale`` and keeps the mean (by
  default 0.3: a fixed prompt template makes lengths uniform; a mean-only monitor misses it).

:func:`make_stream` draws a stream of ``n`` requests, the drift starting at
``change_at`` (abrupt) or ramping in over ``ramp`` requests (gradual); ``kind="none"``
is the no-drift control. :func:`reference_sample` draws reference traffic. The
statistics (PSI, KS, MMD) are *not* here: the chapter and the lab write them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

# topic -> top-level stdlib modules whose documents make it
TOPICS: dict[str, tuple[str, ...]] = {
    "web": ("http", "urllib", "email", "html", "xmlrpc", "wsgiref", "smtplib", "imaplib", "ftplib", "mailbox", "cgi"),
    "concurrency": ("asyncio", "multiprocessing", "threading", "concurrent", "queue", "sched", "selectors"),
    "files": ("pathlib", "tarfile", "zipfile", "tempfile", "shutil", "os", "glob", "fnmatch", "filecmp", "io"),
    "testing": ("unittest", "doctest", "pdb", "bdb", "pstats", "trace", "cProfile", "profile", "timeit"),
    "core": ("collections", "typing", "operator", "datetime", "calendar", "functools", "itertools", "weakref"),
    "gui": ("tkinter", "turtle", "curses"),
    "xml": ("xml",),
    "codecs": ("encodings", "codecs"),
    "audio": ("aifc", "wave", "sunau", "audioop", "chunk"),
    "build": ("distutils", "lib2to3", "importlib", "pkgutil", "zipimport"),
}
REFERENCE_TOPICS = ("web", "concurrency", "files", "testing", "core")  # reference traffic, equal shares
NEW_TOPICS = ("gui", "xml", "codecs", "audio", "build")  # what a topic drift brings in
KINDS = ("none", "topic", "length", "gradual")
LENGTH_MEAN, LENGTH_SD = 300.0, 60.0  # prompt length in tokens (reference)


@dataclass(frozen=True)
class Stream:
    """``n`` requests: ``lengths`` (n,) int, ``vectors`` (n, 384) float32, ``topics`` (n,) str.

    ``change_at``: index of the first drifted request (None without drift);
    ``share``: (n,) probability that request ``t`` comes from the drifted distribution
    (0 before the change, 1 after an abrupt one, a linear ramp for a gradual one).
    """

    lengths: np.ndarray
    vectors: np.ndarray
    topics: np.ndarray
    change_at: int | None
    kind: str
    share: np.ndarray
    new_topic: str | None = None

    def __len__(self) -> int:
        return len(self.lengths)


@functools.cache
def _pool() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rows of the corpus embeddings per topic, and the embeddings (unit norm, float32)."""
    from . import rag

    ids, vectors = rag.document_embeddings()
    module_of = {doc["id"]: doc["module"].split(".")[0] for doc in rag._documents()}
    top = np.array([module_of[doc_id] for doc_id in ids])
    rows = {topic: np.flatnonzero(np.isin(top, modules)) for topic, modules in TOPICS.items()}
    return rows, np.ascontiguousarray(vectors, dtype=np.float32)


def topic_sizes() -> dict[str, int]:
    """How many documents each topic draws from."""
    return {topic: len(rows) for topic, rows in _pool()[0].items()}


def _draw(rng: np.random.Generator, drifted: np.ndarray, kind: str, new_topic: str, share: float, scale: float):
    n = len(drifted)
    rows_of, vectors = _pool()
    topics = np.array(REFERENCE_TOPICS)[rng.integers(len(REFERENCE_TOPICS), size=n)]
    sd = np.full(n, LENGTH_SD)
    if kind in ("topic", "gradual"):
        topics = np.where(drifted & (rng.random(n) < share), new_topic, topics)
    elif kind == "length":
        sd = np.where(drifted, LENGTH_SD * scale, sd)
    rows = np.empty(n, dtype=np.int64)
    for topic in np.unique(topics):
        mask = topics == topic
        rows[mask] = rng.choice(rows_of[str(topic)], size=int(mask.sum()))
    lengths = np.maximum(np.rint(rng.normal(LENGTH_MEAN, sd)), 1).astype(np.int64)
    return lengths, vectors[rows], topics


def make_stream(
    n: int,
    kind: str = "topic",
    change_at: int | None = None,
    seed: int = 0,
    new_topic: str | None = None,
    share: float = 0.3,
    length_scale: float = 0.3,
    ramp: int = 300,
) -> Stream:
    """A stream of ``n`` requests drifting at ``change_at`` (default ``n // 2``; ignored for ``"none"``).

    ``kind``: ``"none"`` (control), ``"topic"`` (abrupt: a share ``share`` of the requests
    comes from ``new_topic``, drawn from :data:`NEW_TOPICS` if None), ``"length"`` (abrupt:
    the length spread times ``length_scale``, same mean) or ``"gradual"`` (the topic
    drift ramping in linearly over ``ramp`` requests).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = np.random.default_rng(seed)
    if new_topic is None:
        new_topic = str(NEW_TOPICS[rng.integers(len(NEW_TOPICS))])
    elif new_topic not in TOPICS:
        raise ValueError(f"unknown topic {new_topic!r}")
    if kind == "none":
        change_at = None
        weight = np.zeros(n)
    else:
        change_at = n // 2 if change_at is None else int(change_at)
        if not 0 <= change_at <= n:
            raise ValueError("change_at must lie in [0, n]")
        t = np.arange(n)
        if kind == "gradual":
            weight = np.clip((t - change_at + 1) / max(ramp, 1), 0.0, 1.0)
        else:
            weight = (t >= change_at).astype(float)
    drifted = rng.random(n) < weight
    lengths, vectors, topics = _draw(rng, drifted, kind, new_topic, share, length_scale)
    if kind in ("topic", "gradual"):
        weight = weight * share
    return Stream(
        lengths,
        vectors,
        topics,
        change_at,
        kind,
        weight,
        new_topic if kind in ("topic", "gradual") else None,
    )


def reference_sample(n: int, seed: int = 0) -> Stream:
    """``n`` requests of reference traffic (no drift)."""
    return make_stream(n, "none", seed=seed)
