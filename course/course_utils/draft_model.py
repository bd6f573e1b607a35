"""A draft model for speculative decoding, distilled from the course's base model.

Speculative decoding needs a second model that is much cheaper than the target
and shares its tokenizer. The recipe, in the spirit of nanoGPT:

1. the draft is a ``LlamaForCausalLM`` with the target's config but only
   ``num_layers`` decoder layers; it starts from the target's token embedding
   (tied with the output head), its first layers and its final norm;
2. it is distilled from the target on random windows of the course corpus
   (:func:`~course_utils.base_model.code_corpus`): the loss is the KL divergence
   ``KL(p_target || q_draft)`` of the next-token distributions, which is what
   makes the target accept the draft's tokens (greedy or sampled);
3. the validation windows measure how often the two models' most likely tokens
   agree (``top1_agreement``, the acceptance rate of greedy speculative decoding
   under teacher forcing) and the expected acceptance of the sampling rule,
   ``sum(min(p, q))``.

Each profile has its own recipe (:data:`DRAFT_RECIPES`); :func:`load_draft_model`
builds the draft once and caches it next to the base model. The cache key covers
the draft recipe, the base model's folder (its own recipe) and the library versions.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .base_model import (
    RECIPES,
    _batch,
    _build_once,
    _versions_key,
    base_model_path,
    code_corpus,
    load_base_model,
    run_recipe,
    save_trained,
    token_stream,
)
from .pretrained import load_pretrained
from .profiles import current_profile

# One recipe per profile. The draft keeps the target's width (so that it can start
# from the target's embedding and first layer) and drops most layers: at batch size
# 1 on a CPU, a step of such small models costs mostly per-layer overhead, so depth
# is what makes a draft cheap. ``train_chars`` limits the corpus (evenly spaced files).
# fmt: off
DRAFT_RECIPES = {
    "ci": dict(num_layers=1, context=128, batch_size=8, steps=80, lr=3e-3, warmup_steps=8,
               train_chars=400_000, eval_batches=2, cpu_threads=1),
    "cpu": dict(num_layers=1, context=256, batch_size=16, steps=600, lr=2e-3, warmup_steps=30,
                train_chars=None, eval_batches=8, cpu_threads=None),
    "gpu": dict(num_layers=2, context=512, batch_size=32, steps=1500, lr=1e-3, warmup_steps=100,
                train_chars=None, eval_batches=16, cpu_threads=None),
}
# fmt: on


def init_draft_from_target(target, num_layers: int):
    """A ``LlamaForCausalLM`` like ``target`` with ``num_layers`` layers, starting from the target's weights."""
    import copy

    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(target.config)
    config.num_hidden_layers = num_layers
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[:num_layers]
    draft = AutoModelForCausalLM.from_config(config)
    missing, unexpected = draft.load_state_dict(target.state_dict(), strict=False)
    assert not missing, f"poids absents de la cible : {missing}"
    return draft


def distillation_loss(draft_logits, target_logits):
    """Mean over positions of ``KL(p_target || q_draft)`` (nats), the next-token distributions of both models."""
    import torch.nn.functional as F

    vocab = draft_logits.shape[-1]
    log_q = F.log_softmax(draft_logits.float().reshape(-1, vocab), dim=-1)
    log_p = F.log_softmax(target_logits.float().reshape(-1, vocab), dim=-1)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


def agreement(draft, target, stream, context: int, batch_size: int, n_batches: int) -> dict:
    """On fixed windows of ``stream``: KL, top-1 agreement and mean ``sum(min(p, q))`` of draft and target."""
    import torch

    starts = torch.linspace(0, len(stream) - context - 1, n_batches * batch_size).long()
    device = next(draft.parameters()).device
    kl = top1 = overlap = 0.0
    draft.eval()
    with torch.no_grad():
        for chunk in starts.split(batch_size):
            x = _batch(stream, chunk, context).to(device)
            q_logits, p_logits = draft(input_ids=x).logits.float(), target(input_ids=x).logits.float()
            kl += distillation_loss(q_logits, p_logits).item()
            top1 += (q_logits.argmax(-1) == p_logits.argmax(-1)).float().mean().item()
            overlap += torch.minimum(q_logits.softmax(-1), p_logits.softmax(-1)).sum(-1).mean().item()
    return {"kl": kl / n_batches, "top1_agreement": top1 / n_batches, "expected_acceptance": overlap / n_batches}


def build_draft_model(profile: str | None, out_dir: Path, *, seed: int = 0) -> dict:
    """Distil the draft of ``profile`` from its base model; save it with ``training.json`` in ``out_dir``."""
    profile = current_profile(profile)
    return run_recipe(_distil_and_save, DRAFT_RECIPES[profile], profile, Path(out_dir), seed)


def _distil_and_save(recipe: dict, profile: str, device: str, out_dir: Path, seed: int) -> dict:
    import torch

    target, tokenizer = load_base_model(profile)
    target.to(device).requires_grad_(False)
    corpus = code_corpus()
    train_texts = corpus["train"]
    if recipe["train_chars"]:  # evenly spaced files, so that every package is represented
        stride = max(1, sum(map(len, train_texts)) // recipe["train_chars"])
        train_texts = train_texts[::stride]
    train = token_stream(tokenizer, train_texts)
    val = token_stream(tokenizer, corpus["validation"])
    context, batch_size = min(recipe["context"], RECIPES[profile]["context"]), recipe["batch_size"]

    torch.manual_seed(seed)
    draft = init_draft_from_target(target, recipe["num_layers"]).to(device)
    before = agreement(draft, target, val, context, batch_size, recipe["eval_batches"])
    optimizer = torch.optim.AdamW(draft.parameters(), lr=recipe["lr"], betas=(0.9, 0.95), weight_decay=0.0)
    warmup, steps = recipe["warmup_steps"], recipe["steps"]
    # warm-up then cosine, like the base model (without importing transformers.optimization, which pulls in peft)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: s / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup))),
    )
    sampler = torch.Generator().manual_seed(seed)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")

    losses, started = [], time.perf_counter()
    draft.train()
    for _ in range(recipe["steps"]):
        starts = torch.randint(0, len(train) - context - 1, (batch_size,), generator=sampler)
        x = _batch(train, starts, context).to(device)
        with autocast:
            with torch.no_grad():
                p_logits = target(input_ids=x).logits
            loss = distillation_loss(draft(input_ids=x).logits, p_logits)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(draft.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(round(loss.item(), 4))
    seconds = time.perf_counter() - started

    with autocast:
        after = agreement(draft, target, val, context, batch_size, recipe["eval_batches"])
    summary = {
        "profile": profile,
        "recipe": recipe,
        "seed": seed,
        "parameters": sum(p.numel() for p in draft.parameters()),
        "target_parameters": sum(p.numel() for p in target.parameters()),
        "train_seconds": round(seconds, 1),
        "before_distillation": before,
        **after,
        "train_losses": losses,
    }
    return save_trained(draft, tokenizer, out_dir, summary)


def draft_model_path(profile: str | None = None) -> Path:
    """Folder of the draft model of ``profile`` (built on first use, then cached)."""
    profile = current_profile(profile)
    base = base_model_path(profile)
    name = f"draft-model-{profile}-{_versions_key(DRAFT_RECIPES[profile], base.name, profile)}"
    return _build_once(name, lambda folder: build_draft_model(profile, folder))


def load_draft_model(profile: str | None = None):
    """Return ``(model, tokenizer)``: the draft of the course's base model, in eval mode (same tokenizer)."""
    return load_pretrained(str(draft_model_path(profile)), local_files_only=True)


def draft_summary(profile: str | None = None) -> dict:
    """What the distillation measured when the draft was built (``training.json``)."""
    return json.loads((draft_model_path(profile) / "training.json").read_text())
