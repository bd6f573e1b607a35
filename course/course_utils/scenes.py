"""Generated scenes for the vision-language notebooks, and the small models both use.

A scene is a 32x32 RGB image of 1 to 4 identical shapes of one colour, grouped in one quarter
of the image. Its four attributes each take 4 values (count - 1, colour, shape, position), so
there are 256 distinct scenes, and its 7-word French caption is computed from the same
attributes: the caption of ``attrs`` is ``ALL_CAPTIONS[caption_index(attrs)]``.

Used by ``partie-04/07-multimodal.ipynb`` and the lab ``labs/partie-04-vlm``. The models here
are the pieces both notebooks only use (Transformer blocks, CLIP's text encoder, the prefix
decoder); what a notebook teaches or asks for (patches, the vision encoder, CLIP's loss, the
projection) stays in the notebook.

This module imports torch: import it as ``course_utils.scenes``, never from ``course_utils``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

IMAGE_SIZE = 32
SHAPES = ["carré", "cercle", "triangle", "croix"]
COLORS = ["rouge", "vert", "bleu", "jaune"]
RGB = np.array([[0.95, 0.2, 0.15], [0.2, 0.8, 0.25], [0.25, 0.45, 1.0], [0.95, 0.85, 0.1]], dtype=np.float32)
POSITIONS = ["en haut à gauche", "en haut à droite", "en bas à gauche", "en bas à droite"]
COUNTS = ["un", "deux", "trois", "quatre"]
SHAPE_SIZES = (6, 7)  # side of one shape in pixels; it fits in an 8x8 cell with at least 1 px to spare


def shape_mask(shape: str, s: int) -> np.ndarray:
    """Boolean s x s mask of a shape."""
    if shape not in SHAPES:
        raise ValueError(f"Forme inconnue : {shape!r} (formes possibles : {', '.join(SHAPES)})")
    yy, xx = np.mgrid[0:s, 0:s] + 0.5
    c = s / 2
    if shape == "carré":
        return np.ones((s, s), dtype=bool)
    if shape == "cercle":
        return (yy - c) ** 2 + (xx - c) ** 2 <= c**2 + 0.5
    if shape == "triangle":
        return np.abs(xx - c) <= yy / 2 + 0.25
    return (np.abs(xx - c) < s / 4) | (np.abs(yy - c) < s / 4)  # croix


MASKS = {(shape, s): shape_mask(shape, s) for shape in SHAPES for s in SHAPE_SIZES}


def describe(count: int, color: int, shape: int, pos: int) -> str:
    """French caption of a scene (7 words, with agreement); count is the number of shapes minus 1."""
    fem = SHAPES[shape] == "croix"
    number = COUNTS[count] + ("e" if fem and count == 0 else "")
    noun = SHAPES[shape] + ("s" if count > 0 and not fem else "")
    adj = COLORS[color] + ("e" if fem and COLORS[color] in ("vert", "bleu") else "") + ("s" if count > 0 else "")
    return f"{number} {noun} {adj} {POSITIONS[pos]}"


def make_scenes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (n, 3, 32, 32) float32 in [0, 1] and their attributes (n, 4) int64: count-1, colour, shape, position.

    The same (n, seed) always gives the same scenes.
    """
    if n < 0:
        raise ValueError(f"Le nombre de scènes doit être >= 0, reçu {n}")
    rng = np.random.default_rng(seed)
    attrs = rng.integers(0, 4, size=(n, 4))
    images = np.empty((n, 3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    half, cell = IMAGE_SIZE // 2, IMAGE_SIZE // 4
    for i, (count, color, shape, pos) in enumerate(attrs):
        img = 0.08 + 0.03 * rng.standard_normal((3, IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
        r0, c0 = (pos // 2) * half, (pos % 2) * half
        rgb = np.clip(RGB[color] + 0.08 * rng.standard_normal(3), 0, 1)
        for k in rng.permutation(4)[: count + 1]:  # distinct 8x8 cells of the quarter, at least 1 px apart
            s = int(rng.integers(SHAPE_SIZES[0], SHAPE_SIZES[-1] + 1))
            y = r0 + (k // 2) * cell + int(rng.integers(0, cell - s))
            x = c0 + (k % 2) * cell + int(rng.integers(0, cell - s))
            img[:, y : y + s, x : x + s][:, MASKS[(SHAPES[shape], s)]] = rgb[:, None]
        images[i] = np.clip(img, 0, 1)
    return torch.from_numpy(images), torch.from_numpy(attrs)


ALL_CAPTIONS = [describe(*a) for a in np.ndindex(4, 4, 4, 4)]  # index = base-4 number of the attributes


def caption_index(attrs: torch.Tensor) -> torch.Tensor:
    """Index in ALL_CAPTIONS of each row of attributes (n, 4): their base-4 number."""
    return ((attrs[:, 0] * 4 + attrs[:, 1]) * 4 + attrs[:, 2]) * 4 + attrs[:, 3]


def build_vocab(texts: Iterable[str], specials: Iterable[str]) -> list[str]:
    """The special tokens, in order, then the sorted distinct words of texts."""
    return list(specials) + sorted({w for t in texts for w in t.split()})


def caption_ids(stoi: dict[str, int]) -> torch.Tensor:
    """Word ids of the 256 captions, (256, 7), row i = ALL_CAPTIONS[i]."""
    return torch.tensor([[stoi[w] for w in c.split()] for c in ALL_CAPTIONS])


def transformer_blocks(dim: int, depth: int, heads: int) -> nn.TransformerEncoder:
    """Pre-norm Transformer blocks (attention + GELU MLP), as in ViT and GPT."""
    layer = nn.TransformerEncoderLayer(
        dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)


class TextEncoder(nn.Module):
    """Caption encoder of CLIP: word embeddings + positions -> one Transformer block -> mean over words."""

    def __init__(self, vocab_size: int, dim: int, heads: int, max_len: int = 8):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, max_len, dim))
        self.blocks = transformer_blocks(dim, 1, heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.embed(ids) + self.pos[:, : ids.shape[1]])).mean(dim=1)


class TinyDecoder(nn.Module):
    """Causal decoder: [prefix vectors (no position), text embeddings + learned positions] -> text logits."""

    def __init__(self, vocab_size: int, dim: int, depth: int, heads: int, max_len: int = 8):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = transformer_blocks(dim, depth, heads)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab_size, bias=False)

    def forward(self, prefix: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        n_prefix, n_text = prefix.shape[1], ids.shape[1]
        text = self.embed(ids) + self.pos(torch.arange(n_text, device=ids.device))
        x = torch.cat([prefix, text], dim=1)
        mask = nn.Transformer.generate_square_subsequent_mask(n_prefix + n_text, device=x.device)
        x = self.blocks(x, mask=mask, is_causal=True)
        return self.head(self.norm(x[:, n_prefix:]))
