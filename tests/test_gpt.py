"""The course's small GPT: shapes, causality, cache, loss, and the same logits as transformers' GPT-2."""

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import assert_close
from course_utils.gpt import TinyGPT, causal_attention, get_batch, lm_loss, make_model, val_loss

TINY = dict(vocab_size=50, d_model=32, n_layers=2, n_heads=4, context=16)


def reference_attention(q, k, v):
    """Textbook attention, the queries being the last positions of the keys."""
    t, s = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    allowed = torch.ones(t, s, dtype=torch.bool).tril(s - t)
    return scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v


@pytest.fixture
def tokens():
    return torch.randint(0, TINY["vocab_size"], (3, TINY["context"]), generator=torch.Generator().manual_seed(0))


def test_shapes_and_parameter_count(tokens):
    model = make_model(0, **TINY)
    assert model(tokens).shape == (3, TINY["context"], TINY["vocab_size"])
    d, layers, vocab, context = TINY["d_model"], TINY["n_layers"], TINY["vocab_size"], TINY["context"]
    per_block = 12 * d * d + 13 * d  # qkv, proj, fc1, fc2 with biases, two LayerNorms
    assert sum(p.numel() for p in model.parameters()) == (vocab + context) * d + layers * per_block + 2 * d + d * vocab


def test_same_seed_same_weights():
    a, b, c = make_model(3, **TINY), make_model(3, **TINY), make_model(4, **TINY)
    assert isinstance(a, TinyGPT)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.head.weight, c.head.weight)


def test_future_tokens_do_not_change_past_logits(tokens):
    model = make_model(0, **TINY).eval()
    changed = tokens.clone()
    changed[:, 10:] = (changed[:, 10:] + 7) % TINY["vocab_size"]
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert_close(after[:, :10], before[:, :10], rtol=0, atol=1e-6, name="logits before the change")
    assert (after[:, 10:] - before[:, 10:]).abs().max() > 1e-3, "later logits do see the change"


@pytest.mark.parametrize("t, s", [(7, 7), (1, 9), (3, 9)])
def test_causal_attention_matches_the_textbook_formula(t, s):
    gen = torch.Generator().manual_seed(t * s)
    q = torch.randn(2, 4, t, 8, generator=gen)
    k, v = torch.randn(2, 4, s, 8, generator=gen), torch.randn(2, 4, s, 8, generator=gen)
    assert_close(causal_attention(q, k, v), reference_attention(q, k, v), rtol=1e-5, atol=1e-6, name="attention")


def test_kv_cache_gives_the_logits_of_the_full_sequence(tokens):
    model = make_model(0, **TINY).eval()
    with torch.no_grad():
        full = model(tokens)
        caches = [{} for _ in model.blocks]
        pieces = [model(tokens[:, :5], caches), model(tokens[:, 5:8], caches)]
        pieces += [model(tokens[:, i : i + 1], caches) for i in range(8, TINY["context"])]
    assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5, name="logits with the cache")
    with pytest.raises(ValueError, match="contexte"):
        model(tokens[:, :1], caches)  # one position past the context


def test_attention_is_replaceable_and_checkpointing_changes_nothing(tokens):
    model = make_model(0, **TINY)
    loss = lm_loss(model, tokens[:, :-1], tokens[:, 1:])
    grads = torch.autograd.grad(loss, list(model.parameters()))
    model.attention, model.checkpointing = reference_attention, True
    loss2 = lm_loss(model, tokens[:, :-1], tokens[:, 1:])
    grads2 = torch.autograd.grad(loss2, list(model.parameters()))
    assert_close(loss2, loss, rtol=1e-5, name="loss")
    for g2, g in zip(grads2, grads, strict=True):
        assert_close(g2, g, rtol=1e-4, atol=1e-6, name="gradient")


def test_loss_is_cross_entropy(tokens):
    model = make_model(0, **TINY)
    x, y = tokens[:, :-1], tokens[:, 1:].clone()
    logits = model(x).reshape(-1, TINY["vocab_size"])
    assert_close(lm_loss(model, x, y), F.cross_entropy(logits, y.reshape(-1)), rtol=1e-6)
    y[0, :4] = -100
    expected = F.cross_entropy(logits, y.reshape(-1), ignore_index=-100)
    assert_close(lm_loss(model, x, y), expected, rtol=1e-6, name="ignored targets")


def test_same_logits_as_transformers_gpt2(tokens):
    from transformers import GPT2Config, GPT2LMHeadModel

    ours = make_model(0, **TINY).eval()
    config = GPT2Config(
        vocab_size=TINY["vocab_size"], n_positions=TINY["context"], n_embd=TINY["d_model"], n_layer=TINY["n_layers"],
        n_head=TINY["n_heads"], activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        tie_word_embeddings=False, layer_norm_epsilon=1e-5,
    )  # fmt: skip
    ref = GPT2LMHeadModel(config).eval()
    state = {"transformer.wte.weight": ours.tok.weight, "transformer.wpe.weight": ours.pos.weight,
             "transformer.ln_f.weight": ours.ln_f.weight, "transformer.ln_f.bias": ours.ln_f.bias,
             "lm_head.weight": ours.head.weight}  # fmt: skip
    for i, block in enumerate(ours.blocks):
        h = f"transformer.h.{i}."
        for theirs, mine in [("ln_1", block.ln1), ("ln_2", block.ln2)]:
            state[h + theirs + ".weight"], state[h + theirs + ".bias"] = mine.weight, mine.bias
        for theirs, mine in [("attn.c_attn", block.qkv), ("attn.c_proj", block.proj),
                             ("mlp.c_fc", block.fc1), ("mlp.c_proj", block.fc2)]:  # fmt: skip
            state[h + theirs + ".weight"], state[h + theirs + ".bias"] = mine.weight.T, mine.bias  # Conv1D: (in, out)
    missing, unexpected = ref.load_state_dict(state, strict=False)
    assert not unexpected and all("attn.bias" in k or "masked_bias" in k for k in missing), missing
    with torch.no_grad():
        assert_close(ours(tokens), ref(tokens).logits, rtol=0, atol=1e-5, name="logits against GPT2LMHeadModel")
        assert_close(lm_loss(ours, tokens, tokens), lm_loss(ref, tokens, tokens), rtol=1e-6, name="lm_loss")


def test_val_loss_is_eval_mode_and_matches_transformers_labels():
    model = make_model(0, arch="llama", vocab_size=64, d_model=32, n_layers=1, n_heads=4, context=16)
    assert model.config.intermediate_size == 4 * math.ceil(8 * 32 / 12) and not model.config.tie_word_embeddings
    batch = torch.randint(0, 64, (4, 16), generator=torch.Generator().manual_seed(1))
    model.train()
    got = val_loss(model, batch)
    assert model.training, "the previous mode is restored"
    with torch.no_grad():
        expected = model.eval()(input_ids=batch, labels=batch).loss.item()
    assert_close(got, expected, rtol=1e-5, name="val_loss against labels=input_ids")
    assert_close(val_loss(model, batch[:, :-1], batch[:, 1:]), expected, rtol=1e-5, name="val_loss with y")
    assert not model.training
    with pytest.raises(ValueError):
        make_model(0, arch="mamba")


def test_get_batch_windows():
    ids = torch.arange(100)
    gen = torch.Generator().manual_seed(0)
    x, y = get_batch(ids, 4, 8, gen)
    assert x.shape == y.shape == (4, 8) and torch.equal(y, x + 1) and torch.equal(x[:, 1:], x[:, :-1] + 1)
    starts = torch.randint(0, 100 - 8, (4,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(x[:, 0], starts), "one torch.randint(0, len(ids) - context) per batch"
    assert torch.equal(get_batch(ids, 4, 8, torch.Generator().manual_seed(0))[0], x), "same generator state, same batch"
    assert get_batch(torch.arange(9), 2, 8)[1].max() == 8, "the last token can be a target"
    with pytest.raises(ValueError):
        get_batch(torch.arange(8), 2, 8)
