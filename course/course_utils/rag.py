"""The retrieval corpus of partie-08: the standard library's documentation, one document per public object.

- :func:`stdlib_documents`: every public module, class, function and method of
  the standard library (read with ``ast``, nothing imported), with its
  signature and docstring, as a ``datasets.Dataset`` with metadata for filters.
- :func:`question_pool`: every question the corpus yields, with its answer
  documents known; :func:`question_set` draws some from a seed (a grader draws
  its own at grading time). Three kinds, so that neither words nor meaning
  alone answer them all: ``description`` (a docstring sentence in everyday
  words), ``signature`` (the parameter list) and ``module`` (what a module provides).
- :func:`document_embeddings`, :func:`question_embeddings`: both embedded once by
  the course's real sentence encoder (all-MiniLM-L6-v2), cached like the base model.
- :func:`recall_at_k`, :func:`reciprocal_rank`, :func:`ndcg_at_k`: the reference
  retrieval metrics (labs forbid them: students write their own).

Measured on the whole pool (4 783 questions, recall@10 / MRR): BM25 (bm25s)
0.794 / 0.662, dense (MiniLM, exact search) 0.586 / 0.416, reciprocal rank
fusion with equal weights 0.761 / 0.574 (below BM25), a convex combination of
max-normalised BM25 scores and cosines (0.5 each) 0.829 / 0.691.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import math
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

KINDS = ("module", "class", "function", "method")
QUESTION_KINDS = ("description", "signature", "module")
EMBEDDING_MAX_TOKENS = 128  # the name and the start of the docstring: what a question is about
_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _is_public(dotted: str) -> bool:
    return not any(part.startswith("_") for part in dotted.split("."))


def _signature(node) -> str:
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        return f"class {node.name}({bases})" if bases else f"class {node.name}"
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {node.name}({ast.unparse(node.args)})"


def _objects(tree, module: str):
    """``(dotted name, kind, node)`` of the public classes, functions and methods, conditional ones included."""
    stack = [(tree, module, False)]
    while stack:
        node, prefix, in_class = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If | ast.Try):
                stack.append((child, prefix, in_class))  # definitions under `if`/`try` are the module's too
            elif isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if child.name.startswith("_"):
                    continue
                name = f"{prefix}.{child.name}"
                if isinstance(child, ast.ClassDef):
                    yield name, "class", child
                    stack.append((child, name, True))
                else:
                    yield name, "method" if in_class else "function", child


@functools.cache
def _documents() -> tuple[dict, ...]:
    """The documents, read from the cache (parsing the standard library costs seconds in every notebook)."""
    import json

    from .base_model import _build_once
    from .data import stdlib_root

    # The cache key: this interpreter's standard library and this file (the extraction rules).
    key = hashlib.sha256(f"{sys.version}\n{stdlib_root()}\n{Path(__file__).read_text()}".encode()).hexdigest()[:12]

    def build(folder: Path) -> None:
        (folder / "documents.json").write_text(json.dumps(_parse_documents()), encoding="utf-8")

    folder = _build_once(f"stdlib-documents-{key}", build)
    return tuple(json.loads((folder / "documents.json").read_text(encoding="utf-8")))


def _parse_documents() -> list[dict]:
    from .data import _module_name, _stdlib_files

    found: dict[str, dict] = {}
    for path, text in _stdlib_files():
        module = _module_name(path)
        if not _is_public(module):
            continue
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        rows = [(module, "module", tree)] + list(_objects(tree, module))
        for name, kind, node in rows:
            docstring = (ast.get_docstring(node) or "").strip()
            signature = f"module {module}" if kind == "module" else _signature(node)
            previous = found.get(name)
            if previous and len(previous["docstring"]) >= len(docstring):
                continue  # the same name defined twice (if/else): keep the documented one
            found[name] = {
                "id": name,
                "module": module,
                "kind": kind,
                "signature": signature,
                "docstring": docstring,
                "text": f"{name}\n{signature}\n\n{docstring}".rstrip(),
                "python": _PYTHON,
            }
    return [found[name] for name in sorted(found)]


def stdlib_documents():
    """One document per public module, class, function and method of the standard library.

    Columns: ``id`` (dotted name, unique), ``module``, ``kind`` (:data:`KINDS`),
    ``signature``, ``docstring`` (may be empty), ``text`` (name, signature and
    docstring: what is indexed) and ``python`` (the version documented).
    """
    from datasets import Dataset

    return Dataset.from_list(list(_documents()))


# --- questions ----------------------------------------------------------------

# Everyday words for the docstrings' usual ones: a question does not copy the document.
_REWORDS = dict(
    pair.replace("_", " ").split(":")
    for pair in (
        "return:give_back returns:gives_back returned:given_back object:instance objects:instances string:text "
        "strings:texts str:text list:sequence lists:sequences dictionary:mapping dict:mapping file:document "
        "files:documents directory:folder create:make creates:makes created:made remove:delete removes:deletes "
        "get:obtain gets:obtains set:assign sets:assigns check:verify checks:verifies value:result values:results "
        "number:count name:label names:labels path:location error:failure errors:failures exception:error "
        "raise:throw raises:throws call:invoke called:invoked function:routine method:routine argument:parameter "
        "arguments:parameters default:fallback character:symbol characters:symbols line:row "
        "lines:rows data:content read:load reads:loads write:save writes:saves open:access start:begin "
        "stop:halt end:finish find:locate search:look send:transmit sends:transmits receive:accept size:length "
        "first:initial last:final new:fresh current:present empty:blank convert:turn converts:turns "
        "parse:analyse process:handle update:refresh copy:duplicate replace:substitute item:element items:elements "
        "byte:octet bytes:octets integer:whole int:whole module:package attribute:property attributes:properties "
        "option:setting options:settings command:instruction input:entry display:show print:show build:construct "
        "initialize:prepare execute:run wait:pause thread:worker instance:object class:type contents:content "
        "specified:chosen given:provided widget:control message:note event:occurrence used:employed server:service "
        "type:kind header:heading time:moment index:position text:prose test:verify tuple:record add:append "
        "source:origin code:program sequence:series window:pane version:release abstract:generic tree:hierarchy "
        "use:employ run:execute socket:endpoint request:demand node:vertex handler:processor raised:thrown "
        "mode:manner format:layout user:person loop:cycle interface:api document:page position:location "
        "manager:supervisor log:journal root:top information:details level:tier single:one url:link until:till "
        "encoding:charset found:located connection:link address:location filename:file_name "
        "representation:depiction queue:buffer stream:flow defined:declared key:identifier directories:folders "
        "system:platform content:substance classes:types subclass:derived_type stack:pile response:reply "
        "shared:common methods:routines block:chunk pattern:template parser:analyser distribution:bundle "
        "import:load form:shape selection:choice state:status functions:routines same:identical variable:symbol "
        "archive:bundle internal:private output:result entry:record matches:fits coordinates:position "
        "formatted:laid_out containing:holding generate:produce coroutine:async_task currently:now "
        "available:present support:handle delete:erase environment:surroundings close:shut "
        "implementation:realisation query:question modules:packages calls:invokes host:machine buffer:cache "
        "traceback:stack_trace iterator:cursor representing:depicting variables:symbols library:toolkit "
        "order:sequence mark:flag protocol:convention wrapper:adapter section:part configuration:settings "
        "headers:headings namespace:scope image:picture standard:usual simple:basic encode:serialise "
        "changes:modifications change:modify application:program screen:display compiler:translator "
        "expression:formula common:usual next:following underlying:inner table:grid date:day callable:routine "
        "match:fit memory:storage width:breadth compile:translate associated:linked optional:facultative "
        "messages:notes represents:depicts entries:records records:entries matching:fitting decorator:wrapper "
        "adds:appends view:display part:portion"
    ).split()
)
_STOPWORDS = set("a an the of to in for and or is are be by with on as at this that it its from".split())
# Docstrings' usual imperative openings ("Return the...", "Create a..."): these become "How can I...?".
_VERBS = set(
    "return create get set make remove add read write convert check test open close send load parse compute build "
    "find start stop run call register raise format print copy move delete update insert append wait encode decode "
    "clear reset put search split join construct initialize process handle apply iterate yield generate".split()
)
_MAX_ANSWERS = 5  # a sentence shared by more documents than this is too generic to ask about


def _first_sentence(docstring: str) -> str:
    paragraph = docstring.split("\n\n")[0].replace("\n", " ")
    return re.split(r"(?<=[.!?])\s", paragraph, maxsplit=1)[0].strip()


def _reword(sentence: str, name: str) -> str:
    """Lower case, the object's own name removed, usual words swapped for everyday ones."""
    own = {part.lower() for part in name.split(".")} | {part.lower() for part in re.split(r"[._]", name) if part}
    words = re.findall(r"[A-Za-z0-9_']+", sentence.lower())
    kept = [_REWORDS.get(w, w) for w in words if w not in own and not all(p in own for p in w.split("_"))]
    return " ".join(kept)


def _parameters(signature: str) -> list[str]:
    args = ast.parse(f"{signature.removeprefix('async ')}: pass").body[0].args
    every = [*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg]
    return [a.arg for a in every if a is not None and a.arg not in ("self", "cls")]


@functools.cache
def _question_pools() -> dict[str, list[tuple[str, str, tuple[str, ...]]]]:
    """Per kind: ``(answer id, sentence or parameters, every document that answers it)``."""
    docs = _documents()
    by_sentence, by_parameters = defaultdict(list), defaultdict(list)
    for doc in docs:
        sentence = _first_sentence(doc["docstring"])
        named = sentence.lower().startswith(doc["id"].split(".")[-1].lower())  # "wrap_text(text, width) -> ..."
        if 25 <= len(sentence) <= 160 and len(sentence.split()) >= 5 and not named:
            by_sentence[sentence.lower()].append(doc)
        if doc["kind"] in ("function", "method"):
            parameters = _parameters(doc["signature"])
            if len(parameters) >= 3:
                by_parameters[tuple(parameters)].append(doc)
    pools: dict[str, list] = {kind: [] for kind in QUESTION_KINDS}
    for sentence, group in by_sentence.items():
        if len(group) <= _MAX_ANSWERS:
            answers = tuple(d["id"] for d in group)
            kind = "module" if group[0]["kind"] == "module" else "description"
            pools[kind].append((group[0]["id"], sentence, answers))
    for parameters, group in by_parameters.items():
        if len(group) <= _MAX_ANSWERS:
            pools["signature"].append((group[0]["id"], ", ".join(parameters), tuple(d["id"] for d in group)))
    return {kind: sorted(pool) for kind, pool in pools.items()}


def _question(kind: str, answer: str, content: str) -> str:
    if kind == "signature":
        return f"Which function takes the parameters {content}?"
    if kind == "module":
        return f"Which module provides this: {_reword(content, answer)}?"
    if content.split()[0] in _VERBS:
        return f"How can I {_reword(content, answer)}?"
    return f"Which class or function is this: {_reword(content, answer)}?"


@functools.cache
def _question_rows() -> tuple[dict, ...]:
    pools = _question_pools()
    return tuple(
        {"question": _question(kind, answer, content), "kind": kind, "answers": list(answers)}
        for kind in QUESTION_KINDS
        for answer, content, answers in pools[kind]
    )


def question_pool():
    """Every question the corpus yields (about 5 000), in a fixed order: ``question``, ``kind``, ``answers``.

    A question is a docstring sentence reworded (the object's name removed,
    usual words swapped for everyday ones: a user does not know the
    documentation's words), a parameter list, or what a module provides.
    ``answers``: every document that answers it (a sentence several objects share).
    """
    from datasets import Dataset

    return Dataset.from_list(list(_question_rows()))


def draw_questions(n: int, seed: int, mix: dict | None = None) -> list[int]:
    """Row numbers of ``n`` questions of :func:`question_pool` drawn with ``seed``.

    ``mix``: the share of each kind (default: 60 % description, 25 % signature, 15 % module).
    """
    mix = mix or {"description": 0.6, "signature": 0.25, "module": 0.15}
    unknown = set(mix) - set(QUESTION_KINDS)
    if unknown:
        raise ValueError(f"types de questions inconnus : {sorted(unknown)} (types : {list(QUESTION_KINDS)})")
    rng, rows = random.Random(f"questions-{seed}"), []
    for kind, share in mix.items():
        pool = [i for i, row in enumerate(_question_rows()) if row["kind"] == kind]
        count = round(n * share)
        if count > len(pool):
            raise ValueError(f"{count} questions {kind!r} demandées, {len(pool)} possibles")
        rows += rng.sample(pool, count)
    rng.shuffle(rows)
    return rows


def question_set(n: int = 300, seed: int = 0, mix: dict | None = None):
    """``n`` questions of :func:`question_pool` drawn with ``seed`` (a ``Dataset``, with the column ``row``:
    their row in the pool, hence in :func:`question_embeddings`)."""
    from datasets import Dataset

    return Dataset.from_list([{**_question_rows()[row], "row": row} for row in draw_questions(n, seed, mix)])


# --- embeddings ---------------------------------------------------------------


def embedding_text(doc: dict) -> str:
    """What the encoder reads of a document: its name and docstring (its signature when it has no docstring).

    A signature is a list of identifiers: words that BM25 matches exactly and
    that would fill a small encoder's 128 tokens with little meaning.
    """
    return f"{doc['id']}: {doc['docstring']}" if doc["docstring"] else f"{doc['id']}: {doc['signature']}"


def _corpus_key() -> str:
    blob = "\n".join(d["id"] + "\0" + embedding_text(d) for d in _documents())
    return hashlib.sha256(f"{EMBEDDING_MAX_TOKENS}\n{blob}".encode()).hexdigest()[:12]


def encode(texts: list[str], batch_size: int = 16):
    """Unit-norm float32 embeddings of ``texts`` by the course's sentence encoder (``numpy``, 384 columns).

    all-MiniLM-L6-v2 run with ``transformers`` alone: the mean of the token states
    under the attention mask, then L2 normalisation, which is what its
    sentence-transformers modules (Transformer, Pooling, Normalize) compute
    (tests/test_rag.py compares the two). Importing sentence-transformers costs
    several seconds more per notebook (it pulls peft, scikit-learn, datasets).
    Batches of 16 are the fastest on CPU (1 500 documents on one thread: 15 s, 18 s by 64, 21 s by 256).
    """
    import numpy as np
    import torch

    tokenizer, model = _encoder()
    texts = list(texts)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # similar lengths share a batch: less padding
    vectors = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=EMBEDDING_MAX_TOKENS,
                return_tensors="pt",
            )
            states = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            mean = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors[rows] = torch.nn.functional.normalize(mean, dim=-1).numpy()
    return vectors


@functools.cache
def _encoder():
    from transformers import AutoModel, AutoTokenizer

    from .models import embedding_model_path
    from .pretrained import quiet_loading

    with quiet_loading():
        path = str(embedding_model_path())
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


def embeddings_path() -> Path:
    """Folder of the cached corpus embeddings (built on first use: 2 to 4 minutes on 2 cores)."""
    from .base_model import _build_once

    def build(folder: Path) -> None:
        import numpy as np

        np.save(folder / "embeddings.npy", encode([embedding_text(d) for d in _documents()]))
        (folder / "ids.txt").write_text("\n".join(d["id"] for d in _documents()), encoding="utf-8")

    return _build_once(f"stdlib-embeddings-{_corpus_key()}", build)


def question_embeddings():
    """Unit-norm embeddings of :func:`question_pool`, row for row (built once, cached like the documents')."""
    import numpy as np

    from .base_model import _build_once

    questions = [row["question"] for row in _question_rows()]
    key = hashlib.sha256(f"{EMBEDDING_MAX_TOKENS}\n{chr(10).join(questions)}".encode()).hexdigest()[:12]
    folder = _build_once(f"stdlib-questions-{key}", lambda out: np.save(out / "embeddings.npy", encode(questions)))
    return np.load(folder / "embeddings.npy")


def document_embeddings():
    """``(ids, vectors)``: the corpus's ids and their unit-norm embeddings (row ``i`` is document ``ids[i]``)."""
    import numpy as np

    folder = embeddings_path()
    return (folder / "ids.txt").read_text(encoding="utf-8").split("\n"), np.load(folder / "embeddings.npy")


# --- reference metrics ----------------------------------------------------------


def recall_at_k(ranked: list[str], answers: list[str], k: int) -> float:
    """Share of the answers found in the first ``k`` results."""
    return len(set(ranked[:k]) & set(answers)) / len(set(answers))


def reciprocal_rank(ranked: list[str], answers: list[str]) -> float:
    """1 / rank of the first answer in ``ranked`` (0 when none is there)."""
    return next((1 / rank for rank, doc in enumerate(ranked, 1) if doc in set(answers)), 0.0)


def ndcg_at_k(ranked: list[str], answers: list[str], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance."""
    gains = sum(1 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], 1) if doc in set(answers))
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(set(answers))) + 1))
    return gains / ideal
