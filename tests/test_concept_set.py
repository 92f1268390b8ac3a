"""The concept probe set: deterministic, and every mask says what the pixels show (checked against
the pixels and against identities that hold by construction)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import xai_widgets as xw
from xai_widgets.demo.concepts import CATEGORIES, COLOURS, PARTS, TEXTURES


@pytest.fixture(scope="module")
def data():
    return xw.demo.shapes_concepts(24, seed=3, size=96)


def test_the_set_is_deterministic_and_a_larger_set_extends_a_smaller_one():
    a, b = xw.demo.shapes_concepts(5, seed=7, size=64), xw.demo.shapes_concepts(8, seed=7, size=64)
    np.testing.assert_array_equal(a.images, b.images[:5])
    np.testing.assert_array_equal(a.labels, b.labels[:5])
    for name in CATEGORIES:
        np.testing.assert_array_equal(a.masks[name], b.masks[name][:5])
    assert not np.array_equal(a.images, xw.demo.shapes_concepts(5, seed=8, size=64).images)


def test_every_category_is_there_and_the_set_is_a_shapes_dataset(data):
    assert set(data.concepts("object")) == set(xw.demo.CLASSES)
    assert data.concepts("colour") == list(COLOURS) and data.concepts("texture") == list(TEXTURES)
    assert data.concepts("part") == list(PARTS)
    image, label = data[0]
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and label == data.labels[0]
    assert all(data.present[c].any() for c in ["edge", "centre", "corner", "stripes", "red"])
    with pytest.raises(ValueError, match="category must be one of"):
        data.concepts("scene")


def _identities(data):
    objects = np.logical_or.reduce([data.masks[c] for c in data.concepts("object")])
    for i, label in enumerate(data.labels):  # one shape class per image: only its mask is set
        shown = [c for c in data.concepts("object") if data.masks[c][i].any()]
        assert shown == [data.classes[label]]
    # every object pixel has exactly one colour and no texture; the background exactly one texture
    colours = np.sum([data.masks[c] for c in data.concepts("colour")], axis=0)
    textures = np.sum([data.masks[c] for c in data.concepts("texture")], axis=0)
    np.testing.assert_array_equal(colours, objects.astype(int))
    np.testing.assert_array_equal(textures, (~objects).astype(int))
    assert all(len({t for t in data.concepts("texture") if data.masks[t][i].any()}) == 1 for i in range(len(data)))
    for part in PARTS:  # parts lie inside objects
        assert not (data.masks[part] & ~objects).any()
    round_ = np.isin(data.labels, [data.classes.index("circle"), data.classes.index("ring")])
    assert not data.masks["corner"][round_].any()  # circles and rings have no corners
    ring = data.labels == data.classes.index("ring")
    assert not data.masks["centre"][ring].any()  # a ring's centre is its hole
    for name, mask in data.masks.items():
        np.testing.assert_array_equal(data.present[name], mask.any(axis=(1, 2)))


def test_masks_obey_the_identities_of_their_construction(data):
    _identities(data)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([32, 48, 80]))
def test_the_identities_hold_for_any_seed_and_size(seed, size):
    _identities(xw.demo.shapes_concepts(3, seed=seed, size=size))


def test_colour_masks_cover_pixels_of_that_colour(data):
    """Inside each colour mask (away from antialiased outlines) the pixels are the named colour
    plus the image noise: std at most 8, so the mean of many pixels is within a few units."""
    interior = ~data.masks["edge"]
    for name, rgb in COLOURS.items():
        pixels = data.images[data.masks[name] & interior].astype(float)
        assert len(pixels) > 50, name
        np.testing.assert_allclose(pixels.mean(axis=0), rgb, atol=6, err_msg=name)


def test_the_edge_band_is_the_outline_of_the_objects(data):
    """An object pixel with a 4-neighbour outside the objects is an edge pixel, and every edge
    pixel has a non-object pixel within the band's width (2 px at 96 px: 2 * 96 / 128 rounded)."""
    objects = np.logical_or.reduce([data.masks[c] for c in data.concepts("object")])
    edge = data.masks["edge"]
    padded = np.pad(objects, ((0, 0), (1, 1), (1, 1)), constant_values=False)
    outside_neighbour = ~(padded[:, :-2, 1:-1] & padded[:, 2:, 1:-1] & padded[:, 1:-1, :-2] & padded[:, 1:-1, 2:])
    assert not (objects & outside_neighbour & ~edge).any()
    width = 2
    padded = np.pad(~objects, ((0, 0), (width, width), (width, width)), constant_values=True)
    H, W = objects.shape[1:]
    near_outside = np.logical_or.reduce([padded[:, width + dy:width + dy + H, width + dx:width + dx + W]
                                         for dy in range(-width, width + 1) for dx in range(-width, width + 1)])
    assert not (edge & ~near_outside).any()
    assert (objects & ~edge).any()  # the band does not swallow the objects


@pytest.mark.parametrize("kwargs, match", [(dict(n=0), "n must be an int >= 1"),
                                           (dict(n=2, size=16), "size must be an int >= 32")])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        xw.demo.shapes_concepts(**kwargs)
