"""The course's base model: a small Llama-style code model pretrained by the course.

The recipe, in the spirit of nanoGPT's ``train.py``:

1. the corpus is the Python standard library's sources, split by file
   (:func:`code_corpus`);
2. a byte-level BPE tokenizer is trained on the train split (:func:`code_tokenizer`);
3. a ``LlamaForCausalLM`` built from a config is trained on random windows of
   the token stream: AdamW, warm-up + cosine schedule, gradient clipping;
4. model and tokenizer are saved with ``save_pretrained``, so that
   ``transformers``, ``peft``, ``trl`` and vLLM load the folder like a hub model.

Each profile has its own recipe (:data:`RECIPES`). :func:`load_base_model` builds
the model once and caches it under :func:`cache_dir`; the cache key covers the
recipe and the library versions, so a changed recipe is never served stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .pretrained import load_pretrained, quiet_loading
from .profiles import current_profile

CACHE_ENV_VAR = "COURSE_CACHE"
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"

# One recipe per profile. ``cpu_threads=1`` keeps the tiny ``ci`` model fast on a
# busy machine (thread synchronisation dominates such small matrices) and its
# result the same on any number of cores. Heads are 32 or 64 wide: vLLM's CPU
# attention takes 32, 64, 80, 96, 112, 128… and refuses the rest (the ``ci``
# model once had heads of 24). ``max_positions`` is what the saved config declares, so that
# vLLM accepts prompts longer than the training ``context``: RoPE has no learned
# positions, but the model never trained beyond ``context`` and degrades there.
# Widths are multiples of 32, so that INT4 groups of 32 (partie-09) and 4-bit blocks
# divide every row. The ``cpu`` recipe trains in about 15 minutes on 2 cores (0.85 s per step), once per
# machine: a laptop's first notebook that needs the model should not wait an hour.
# ``reference_val_loss`` is the validation loss (nats per
# token) measured when the recipe was last changed; tests/test_base_model.py
# checks that the recipe still reaches it.
# fmt: off
RECIPES = {
    "ci": dict(
        vocab_size=1024, hidden_size=96, num_layers=3, num_heads=3, num_kv_heads=1,
        intermediate_size=256, context=128, max_positions=512, batch_size=8, steps=250, lr=3e-3,
        warmup_steps=25, weight_decay=0.1, train_chars=2_000_000, eval_batches=8, cpu_threads=1,
        reference_val_loss=4.60,
    ),
    "cpu": dict(
        vocab_size=4096, hidden_size=256, num_layers=6, num_heads=8, num_kv_heads=4,
        intermediate_size=704, context=256, max_positions=1024, batch_size=16, steps=1000, lr=1.5e-3,
        warmup_steps=50, weight_decay=0.1, train_chars=None, eval_batches=16, cpu_threads=None,
        reference_val_loss=None,
    ),
    "gpu": dict(
        vocab_size=16384, hidden_size=768, num_layers=12, num_heads=12, num_kv_heads=4,
        intermediate_size=2048, context=1024, max_positions=2048, batch_size=32, steps=5000, lr=6e-4,
        warmup_steps=200, weight_decay=0.1, train_chars=None, eval_batches=32, cpu_threads=None,
        reference_val_loss=None,
    ),
}
# fmt: on
_VALIDATION_EVERY = 20  # one file in 20 goes to the validation split


def cache_dir() -> Path:
    """Where built models live: ``$COURSE_CACHE``, else ``~/.cache/cours-llm``."""
    root = os.environ.get(CACHE_ENV_VAR) or Path.home() / ".cache" / "cours-llm"
    return Path(root)


def code_corpus() -> dict[str, list[str]]:
    """Standard library source files, split by file: ``{"train": [...], "validation": [...]}``.

    A file goes to validation when a hash of its path says so, so that the
    split does not move when files are added elsewhere.
    """
    from .data import _stdlib_files

    splits: dict[str, list[str]] = {"train": [], "validation": []}
    for path, text in _stdlib_files():
        bucket = int(hashlib.sha1(path.encode()).hexdigest(), 16) % _VALIDATION_EVERY
        splits["validation" if bucket == 0 else "train"].append(text)
    return splits


def _versions_key(*parts) -> str:
    import tokenizers
    import torch
    import transformers

    blob = json.dumps(
        [parts, sys.version_info[:2], torch.__version__, transformers.__version__, tokenizers.__version__],
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@contextlib.contextmanager
def _build_lock(name: str):
    """One builder at a time per artefact (notebooks may start together)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    with open(cache_dir() / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_once(name: str, build) -> Path:
    """Return ``cache_dir()/name``, calling ``build(tmp_folder)`` first if it is missing."""
    final = cache_dir() / name
    if final.is_dir():
        return final
    with _build_lock(name):
        if not final.is_dir():
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_dir()))
            try:
                build(tmp)
                # mkdtemp and some writers (safetensors) make entries private; the grader's
                # sandboxed kernels run as another user and must read them.
                for entry in [tmp, *tmp.rglob("*")]:
                    entry.chmod(0o755 if entry.is_dir() else 0o644)
                tmp.rename(final)  # atomic: readers never see half a folder
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def train_code_tokenizer(texts: list[str], vocab_size: int):
    """Byte-level BPE trained on ``texts``, as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)


def code_tokenizer(vocab_size: int = 1024):
    """The course's BPE tokenizer for code, trained on the train split once and cached."""
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 512:
        raise ValueError(f"vocab_size={vocab_size} : il faut au moins 512 (256 octets + fusions).")

    def build(folder: Path) -> None:
        train_code_tokenizer(code_corpus()["train"], vocab_size).save_pretrained(folder)

    folder = _build_once(f"code-tokenizer-{vocab_size}-{_versions_key(vocab_size)}", build)
    return PreTrainedTokenizerFast.from_pretrained(folder)


def token_stream(tokenizer, texts: list[str]):
    """All ``texts`` tokenised and joined, each followed by the end-of-text token (1-D LongTensor)."""
    import torch

    ids: list[int] = []
    for row in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(row)
        ids.append(tokenizer.eos_token_id)
    return torch.tensor(ids, dtype=torch.long)


def _llama_config(recipe: dict, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe["hidden_size"],
        intermediate_size=recipe["intermediate_size"],
        num_hidden_layers=recipe["num_layers"],
        num_attention_heads=recipe["num_heads"],
        num_key_value_heads=recipe["num_kv_heads"],
        max_position_embeddings=recipe["max_positions"],
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )


def _batch(stream, starts, context: int):
    import torch

    return torch.stack([stream[s : s + context] for s in starts.tolist()])


def validation_loss(model, stream, context: int, batch_size: int, n_batches: int) -> float:
    """Mean next-token loss over evenly spaced, fixed validation windows."""
    import torch

    total = n_batches * batch_size
    starts = torch.linspace(0, len(stream) - context - 1, total).long()
    device = next(model.parameters()).device
    losses = []
    model.eval()
    with torch.no_grad():
        for chunk in starts.split(batch_size):
            x = _batch(stream, chunk, context).to(device)
            losses.append(model(input_ids=x, labels=x).loss.float().item())
    return sum(losses) / len(losses)


def build_base_model(profile: str | None, out_dir: Path, *, seed: int = 0) -> dict:
    """Run the recipe of ``profile`` and save model, tokenizer and ``training.json`` in ``out_dir``.

    Returns the training summary (also written to ``training.json``).
    """
    profile = current_profile(profile)
    return run_recipe(_train_and_save, RECIPES[profile], profile, Path(out_dir), seed)


def run_recipe(train_and_save, recipe: dict, profile: str, out_dir: Path, seed: int) -> dict:
    """``train_and_save(recipe, profile, device, out_dir, seed)`` on the GPU if there is one,
    else with the recipe's ``cpu_threads`` (the caller's thread count is restored after)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = torch.get_num_threads()
    if device == "cpu" and recipe["cpu_threads"]:
        torch.set_num_threads(recipe["cpu_threads"])
    try:
        return train_and_save(recipe, profile, device, out_dir, seed)
    finally:
        torch.set_num_threads(threads)


def _train_and_save(recipe: dict, profile: str, device: str, out_dir: Path, seed: int) -> dict:
    import torch
    from transformers import LlamaForCausalLM, get_cosine_schedule_with_warmup

    tokenizer = code_tokenizer(recipe["vocab_size"])
    corpus = code_corpus()
    train_texts = corpus["train"]
    if recipe["train_chars"]:  # evenly spaced files, so that every package is represented
        stride = max(1, sum(map(len, train_texts)) // recipe["train_chars"])
        train_texts = train_texts[::stride]
    train = token_stream(tokenizer, train_texts)
    val = token_stream(tokenizer, corpus["validation"])

    torch.manual_seed(seed)
    model = LlamaForCausalLM(_llama_config(recipe, tokenizer)).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe["lr"],
        betas=(0.9, 0.95),
    )
    schedule = get_cosine_schedule_with_warmup(optimizer, recipe["warmup_steps"], recipe["steps"])
    sampler = torch.Generator().manual_seed(seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    context, batch_size = recipe["context"], recipe["batch_size"]

    train_losses, started = [], time.perf_counter()
    model.train()
    for _ in range(recipe["steps"]):
        starts = torch.randint(0, len(train) - context - 1, (batch_size,), generator=sampler)
        x = _batch(train, starts, context).to(device)
        with autocast:
            loss = model(input_ids=x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        train_losses.append(round(loss.item(), 4))
    seconds = time.perf_counter() - started

    with autocast:
        val_loss = validation_loss(model, val, context, batch_size, recipe["eval_batches"])
    summary = {
        "profile": profile,
        "recipe": recipe,
        "seed": seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens": len(train),
        "tokens_seen": recipe["steps"] * batch_size * context,
        "train_seconds": round(seconds, 1),
        "val_loss": val_loss,
        "val_perplexity": math.exp(val_loss),
        "train_losses": train_losses,
    }
    return save_trained(model, tokenizer, out_dir, summary)


def save_trained(model, tokenizer, out_dir: Path, summary: dict) -> dict:
    """Model, tokenizer and ``training.json`` (``summary``) in ``out_dir``, loadable like a hub model."""
    with quiet_loading():
        model.to("cpu").save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "training.json").write_text(json.dumps(summary, indent=1))
    return summary


def base_model_path(profile: str | None = None) -> Path:
    """Folder of the base model of ``profile`` (built on first use, then cached)."""
    profile = current_profile(profile)
    name = f"base-model-{profile}-{_versions_key(RECIPES[profile], profile)}"
    return _build_once(name, lambda folder: build_base_model(profile, folder))


COURSE_MODELS = ("base", "draft", "chat")  # what labs declare (`models:`) and `course serve` takes by name


def course_model_path(name: str, profile: str | None = None) -> Path:
    """Folder of the course model ``name`` (:data:`COURSE_MODELS`) of ``profile``, built on first use."""
    from . import chat_model, draft_model

    paths = {"base": base_model_path, "draft": draft_model.draft_model_path, "chat": chat_model.chat_model_path}
    if name not in paths:
        raise ValueError(f"modèle du cours inconnu : {name!r} (modèles : {', '.join(COURSE_MODELS)})")
    return paths[name](profile)


def load_base_model(profile: str | None = None):
    """Return ``(model, tokenizer)``: the course's pretrained code model, in eval mode."""
    return load_pretrained(str(base_model_path(profile)), local_files_only=True)


def training_summary(profile: str | None = None) -> dict:
    """What the recipe measured when the base model was built (``training.json``)."""
    return json.loads((base_model_path(profile) / "training.json").read_text())
