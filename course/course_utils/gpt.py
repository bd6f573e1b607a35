"""The course's small decoder-only language models, in the spirit of nanoGPT's ``model.py``.

- :class:`TinyGPT`: a GPT-2-style decoder (learned positions, pre-LayerNorm
  blocks, causal self-attention then a 4x GELU MLP, untied output head without
  bias). Its attention is a replaceable function (``TinyGPT(attention=fn)`` or
  ``model.attention = fn``, with ``fn(q, k, v)`` on ``(batch, heads, T, d_head)``
  tensors), and it takes an optional key/value cache for generation and an
  optional activation checkpointing of its blocks.
- :func:`make_model`: a freshly initialised, seeded model: a :class:`TinyGPT`,
  or a small ``LlamaForCausalLM`` of transformers (:func:`llama_config`) built
  with the same keyword arguments.
- :func:`lm_loss`, :func:`val_loss`: the next-token cross-entropy of any of
  these models (transformers' included), and its value in eval mode on a fixed
  validation batch.
- :func:`get_batch`: random contiguous windows of a token stream, ``y`` being
  ``x`` shifted by one token.

torch is imported here; transformers only by the functions that need it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention with the fused kernel (``F.scaled_dot_product_attention``).

    ``q`` is ``(batch, heads, T, d_head)``; ``k`` and ``v`` may be longer
    (``S >= T`` positions, with a key/value cache): the ``T`` queries are then
    the last ``T`` positions, and each sees every key up to its own position.
    """
    t, s = q.shape[-2], k.shape[-2]
    if t == s:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    if t == 1:  # one new token sees every key already in the cache
        return F.scaled_dot_product_attention(q, k, v)
    mask = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(s - t)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class Block(nn.Module):
    """Pre-LayerNorm Transformer block: causal self-attention then a 4x MLP, each with a residual connection."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} doit être un multiple de n_heads={n_heads}")
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv, self.proj = nn.Linear(d_model, 3 * d_model), nn.Linear(d_model, d_model)
        self.fc1, self.fc2 = nn.Linear(d_model, 4 * d_model), nn.Linear(4 * d_model, d_model)

    def forward(self, x: torch.Tensor, attention=causal_attention, cache: dict | None = None) -> torch.Tensor:
        """``x``: ``(batch, T, d_model)``. ``cache`` (a dict, filled in place) keeps the keys and values seen so far."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:  # generation: reuse the keys and values of the positions already seen
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        y = attention(q, k, v)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class TinyGPT(nn.Module):
    """A small GPT: token and position embeddings, ``n_layers`` blocks, final LayerNorm, output head.

    ``context`` is the longest sequence it reads (the size of the position
    table). ``attention`` is the attention function of every block (default
    :func:`causal_attention`); ``checkpointing=True`` keeps only each block's
    input for the backward pass and recomputes the rest.
    """

    def __init__(
        self,
        vocab_size: int = 256,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        context: int = 64,
        *,
        attention=causal_attention,
        checkpointing: bool = False,
    ):
        super().__init__()
        self.context = context
        self.tok, self.pos = nn.Embedding(vocab_size, d_model), nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, vocab_size, bias=False)
        self.attention = attention
        self.checkpointing = checkpointing

    def forward(self, idx: torch.Tensor, caches: list[dict] | None = None) -> torch.Tensor:
        """Logits ``(batch, T, vocab_size)`` for token ids ``idx`` ``(batch, T)``.

        ``caches``: one dict per block (``[{} for _ in model.blocks]`` before the
        first call), filled in place; positions then continue after the cached ones.
        """
        start = caches[0]["k"].shape[2] if caches is not None and "k" in caches[0] else 0
        if start + idx.shape[1] > self.context:
            raise ValueError(f"séquence de {start + idx.shape[1]} positions pour un contexte de {self.context}")
        x = self.tok(idx) + self.pos(torch.arange(start, start + idx.shape[1], device=idx.device))
        for i, block in enumerate(self.blocks):
            if self.checkpointing and caches is None:
                x = checkpoint(block, x, self.attention, use_reentrant=False)
            else:
                x = block(x, self.attention, None if caches is None else caches[i])
        return self.head(self.ln_f(x))


def llama_config(
    vocab_size: int = 256, d_model: int = 64, n_layers: int = 2, n_heads: int = 4, context: int = 64, **overrides
):
    """transformers' ``LlamaConfig`` of the course's small Llama, sized like :class:`TinyGPT`.

    SwiGLU width about ``8 d / 3`` (a multiple of 4), as many key/value heads as
    heads, untied output head, no generation cache; ``overrides`` are passed to
    ``LlamaConfig`` (``attention_dropout=0.1``, ``use_cache=True``…).
    """
    from transformers import LlamaConfig

    options = dict(
        vocab_size=vocab_size,
        hidden_size=d_model,
        intermediate_size=4 * math.ceil(8 * d_model / 12),
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_heads,
        max_position_embeddings=context,
        tie_word_embeddings=False,
        use_cache=False,
    )
    options.update(overrides)
    return LlamaConfig(**options)


def make_model(seed: int = 0, device="cpu", arch: str = "gpt", **config) -> nn.Module:
    """A freshly initialised model: same seed, same weights (it seeds torch's global generator).

    ``arch="gpt"``: ``TinyGPT(**config)``; ``arch="llama"``: ``LlamaForCausalLM(llama_config(**config))``.
    """
    torch.manual_seed(seed)
    if arch == "gpt":
        model = TinyGPT(**config)
    elif arch == "llama":
        from transformers import LlamaForCausalLM

        model = LlamaForCausalLM(llama_config(**config))
    else:
        raise ValueError(f"arch={arch!r} : 'gpt' ou 'llama'")
    return model.to(device)


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean next-token cross-entropy (nats per token); ``y`` is ``x`` shifted by one already.

    Works with :class:`TinyGPT` (logits) and with transformers' causal LMs (an
    output with ``.logits``). Targets equal to ``ignore_index`` do not count.
    """
    logits = model(x)
    logits = getattr(logits, "logits", logits)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=ignore_index)


@torch.no_grad()
def val_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, ignore_index: int = -100) -> float:
    """The loss on a fixed validation batch, in eval mode (dropout off); the model's mode is restored.

    With ``y``: ``lm_loss(model, x, y)``. Without: ``x`` is its own label, like
    ``model(input_ids=x, labels=x)`` in transformers (position ``t`` predicts
    token ``t + 1``; the last position predicts nothing).
    """
    if y is None:
        x, y = x[:, :-1], x[:, 1:]
    was_training = model.training
    model.eval()
    try:
        return lm_loss(model, x, y, ignore_index).item()
    finally:
        model.train(was_training)


def get_batch(
    ids: torch.Tensor, batch_size: int, context: int, generator: torch.Generator | None = None, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``context`` tokens of ``ids`` and their targets: ``(x, y)``, ``y`` = ``x`` shifted by one.

    The starts come from one ``torch.randint(0, len(ids) - context, (batch_size,))``
    with ``generator``: the same generator state gives the same batch.
    """
    if len(ids) < context + 1:
        raise ValueError(f"flux trop court : {len(ids)} jetons pour un contexte de {context} (+1 cible)")
    starts = torch.randint(0, len(ids) - context, (batch_size,), generator=generator)
    offsets = starts[:, None] + torch.arange(context)
    return ids[offsets].to(device), ids[offsets + 1].to(device)
