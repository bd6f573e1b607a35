import numpy as np
import pytest
import torch
from scipy import ndimage

from course_utils import scenes


def test_same_seed_same_scenes_other_seed_other_scenes():
    images, attrs = scenes.make_scenes(20, seed=3)
    again, attrs_again = scenes.make_scenes(20, seed=3)
    assert torch.equal(images, again) and torch.equal(attrs, attrs_again)
    other, _ = scenes.make_scenes(20, seed=4)
    assert not torch.equal(images, other)
    first, first_attrs = scenes.make_scenes(5, seed=3)  # a shorter run draws nothing else first
    assert torch.equal(first_attrs, attrs[:5])


def test_shapes_dtypes_and_ranges():
    images, attrs = scenes.make_scenes(7, seed=0)
    assert images.shape == (7, 3, scenes.IMAGE_SIZE, scenes.IMAGE_SIZE) and images.dtype == torch.float32
    assert attrs.shape == (7, 4) and attrs.dtype == torch.int64
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert int(attrs.min()) >= 0 and int(attrs.max()) <= 3
    empty, no_attrs = scenes.make_scenes(0, seed=0)
    assert empty.shape == (0, 3, 32, 32) and no_attrs.shape == (0, 4)
    with pytest.raises(ValueError):
        scenes.make_scenes(-1, seed=0)


def test_images_show_what_the_attributes_say():
    images, attrs = scenes.make_scenes(60, seed=11)
    half = scenes.IMAGE_SIZE // 2
    for image, (count, color, shape, pos) in zip(images.numpy(), attrs.tolist(), strict=True):
        foreground = image.max(axis=0) > 0.4  # the background is dark (0.08 plus a little noise)
        rows, cols = np.nonzero(foreground)
        r0, c0 = (pos // 2) * half, (pos % 2) * half
        assert rows.min() >= r0 and rows.max() < r0 + half and cols.min() >= c0 and cols.max() < c0 + half
        nearest = np.argmin(((scenes.RGB - image[:, foreground].mean(axis=1)) ** 2).sum(axis=1))
        assert nearest == color
        labels, n = ndimage.label(foreground)
        assert n == count + 1
        for box in ndimage.find_objects(labels):
            s = box[0].stop - box[0].start
            assert s in scenes.SHAPE_SIZES and box[1].stop - box[1].start == s
            assert np.array_equal(foreground[box], scenes.MASKS[(scenes.SHAPES[shape], s)])


def test_captions_index_and_agreement():
    assert len(scenes.ALL_CAPTIONS) == 256 == len(set(scenes.ALL_CAPTIONS))
    assert all(len(c.split()) == 7 for c in scenes.ALL_CAPTIONS)
    every = torch.tensor(list(np.ndindex(4, 4, 4, 4)))
    assert torch.equal(scenes.caption_index(every), torch.arange(256))
    for a in every[::17].tolist():
        assert scenes.ALL_CAPTIONS[int(scenes.caption_index(torch.tensor([a])))] == scenes.describe(*a)
    assert scenes.describe(0, 0, 3, 0) == "une croix rouge en haut à gauche"
    assert scenes.describe(1, 1, 0, 3) == "deux carrés verts en bas à droite"
    assert scenes.describe(2, 2, 3, 1) == "trois croix bleues en haut à droite"
    assert scenes.describe(3, 3, 1, 2) == "quatre cercles jaunes en bas à gauche"
    assert scenes.describe(0, 1, 2, 0) == "un triangle vert en haut à gauche"


def test_shape_masks():
    for s in scenes.SHAPE_SIZES:
        square, circle = scenes.shape_mask("carré", s), scenes.shape_mask("cercle", s)
        assert square.all() and square.dtype == bool and square.shape == (s, s)
        assert 0 < circle.sum() < s * s and np.array_equal(circle, circle.T)
        cross = scenes.shape_mask("croix", s)
        assert np.array_equal(cross, cross.T) and not cross[0, 0]
        triangle = scenes.shape_mask("triangle", s)
        assert triangle.sum(axis=1).tolist() == sorted(triangle.sum(axis=1).tolist())  # wider towards the bottom
    with pytest.raises(ValueError):
        scenes.shape_mask("étoile", 6)


def test_vocabulary_and_caption_ids():
    vocab = scenes.build_vocab(scenes.ALL_CAPTIONS, ["<pad>", "<bos>"])
    assert vocab[:2] == ["<pad>", "<bos>"] and vocab[2:] == sorted(set(vocab[2:]))
    stoi = {w: i for i, w in enumerate(vocab)}
    ids = scenes.caption_ids(stoi)
    assert ids.shape == (256, 7) and ids.dtype == torch.int64
    assert " ".join(vocab[i] for i in ids[42].tolist()) == scenes.ALL_CAPTIONS[42]


def test_text_encoder_and_decoder():
    torch.manual_seed(0)
    encoder = scenes.TextEncoder(vocab_size=30, dim=16, heads=2)
    ids = torch.randint(0, 30, (3, 7))
    assert encoder(ids).shape == (3, 16)
    decoder = scenes.TinyDecoder(vocab_size=30, dim=16, depth=1, heads=2).eval()
    prefix = torch.randn(3, 4, 16)
    logits = decoder(prefix, ids)
    assert logits.shape == (3, 7, 30)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % 30
    with torch.no_grad():  # causal: the last word changes only the last position
        assert torch.allclose(decoder(prefix, changed)[:, :-1], logits[:, :-1], atol=1e-6)
        other_prefix = torch.randn(3, 4, 16)  # every position sees the prefix
        assert not torch.allclose(decoder(other_prefix, ids)[:, 0], logits[:, 0])
    blocks = scenes.transformer_blocks(16, 3, 2)
    assert len(blocks.layers) == 3 and blocks.layers[0].norm_first
