"""Benchmark of encoders (not a test): encode throughput of the lab's from-scratch
byte-level BPE (with and without its per-call cache of chunks), of Hugging Face
`tokenizers` and of `tiktoken`, in the same run.

The from-scratch functions are the solution cells of labs/partie-03-bpe/bpe.ipynb,
executed as they are. The three encoders share the training corpus (the lab's 1 MB
corpus) and the vocabulary size; tiktoken is built from the lab's own merges, so its
ids must equal the from-scratch ones (checked). HF `tokenizers` learns its own merges
(GPT-2 regex, its own tie-breaking), hence a slightly different number of tokens.

    .venv/bin/python benchmarks/tokenizer_throughput.py [--vocab-size 1024] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat

LAB = Path(__file__).resolve().parents[1] / "labs" / "partie-03-bpe" / "bpe.ipynb"
# Cells to run: the setup, the corpus and the answers (with their solutions).
CELLS = ("setup", "corpus", "split_answer", "pairs_answer", "train_answer", "vocab_answer", "encode_answer")


def load_lab() -> dict:
    """Execute the lab's solution cells; return their namespace."""
    namespace = {"PROFILE": "ci"}
    for cell in nbformat.read(LAB, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") in CELLS:
            exec(compile(cell.source, f"{LAB.name}:{cell.metadata['nbgrader']['grade_id']}", "exec"), namespace)
    return namespace


def best_time(fn, text: str, repeats: int) -> tuple[float, list[int]]:
    """Best wall time of `repeats` calls (the machine may be shared), and the ids."""
    best, ids = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        ids = fn(text)
        best = min(best, time.perf_counter() - start)
    return best, list(ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_PROFILE", "ci")
    lab = load_lab()
    import tiktoken
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from course_utils.data import french_sentences, stdlib_sources

    corpus, specials = lab["corpus"], lab["SPECIALS"]
    start = time.perf_counter()
    merges = lab["train_bpe"](corpus, args.vocab_size, specials)
    print(
        f"from-scratch training: {len(merges)} merges on {len(corpus.encode()):,} bytes "
        f"in {time.perf_counter() - start:.1f} s"
    )

    vocab = lab["build_vocab"](merges)
    enc = tiktoken.Encoding(
        name="lab-bpe",
        pat_str=lab["GPT4_PATTERN"],
        mergeable_ranks={b: i for i, b in vocab.items()},
        special_tokens={s: 256 + len(merges) + i for i, s in enumerate(specials)},
    )
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=args.vocab_size,
        special_tokens=list(specials),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    hf.train_from_iterator([corpus], trainer)

    # Held-out text: modules absent from the training corpus (which stops at file 40), and French.
    text = "<|endoftext|>".join(
        list(stdlib_sources(max_files=140)["text"][100:140]) + [" ".join(french_sentences(2000, seed=1)["text"])]
    )
    n_bytes = len(text.encode())

    def from_scratch_no_cache(t: str) -> list[int]:
        # One call per pre-token chunk: the encoder's per-call chunk cache never hits.
        ids = []
        for piece in lab["split_on_special"](t, specials):
            chunks = [piece] if piece in specials else lab["pretokenize"](piece)
            for chunk in chunks:
                ids += lab["encode"](chunk, merges, specials)
        return ids

    encoders = {
        "from scratch (Python)": lambda t: lab["encode"](t, merges, specials),
        "from scratch, no cache": from_scratch_no_cache,
        "HF tokenizers (Rust)": lambda t: hf.encode(t).ids,
        "tiktoken (Rust)": lambda t: enc.encode(t, allowed_special="all"),
    }
    results = {name: best_time(fn, text, args.repeats) for name, fn in encoders.items()}
    same = results["from scratch (Python)"][1] == results["from scratch, no cache"][1] == results["tiktoken (Rust)"][1]
    print(f"held-out text: {n_bytes / 1e6:.2f} MB; tiktoken ids == from-scratch ids: {same}")
    if not same:
        raise SystemExit("tiktoken and the from-scratch encoder disagree")

    base = results["from scratch (Python)"][0]
    print(f"\n{'encoder':24s} {'MB/s':>8s} {'tokens':>9s} {'bytes/token':>12s} {'speed-up':>9s}")
    for name, (seconds, ids) in results.items():
        print(
            f"{name:24s} {n_bytes / 1e6 / seconds:8.2f} {len(ids):9,d} {n_bytes / len(ids):12.2f} {base / seconds:8.1f}x"
        )


if __name__ == "__main__":
    main()
