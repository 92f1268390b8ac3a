"""The offline demo: procedural shapes, their boxes, the shipped CNN and photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from xai_widgets import demo
from xai_widgets.demo.shapes import make_shapes

# Training uses seed 1 and held-out seed 2 (see demo/train.py); this one is unseen.
TEST_SEED = 7


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(100, seed=TEST_SEED)


def test_same_seed_same_images_and_prefix_stable():
    a, b = make_shapes(12, seed=3), make_shapes(12, seed=3)
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.labels, b.labels)
    assert a.boxes == b.boxes
    head = make_shapes(5, seed=3)
    assert np.array_equal(head.images, a.images[:5]) and head.boxes == a.boxes[:5]
    assert not np.array_equal(make_shapes(12, seed=4).images, a.images)


def test_format(shapes):
    assert shapes.images.shape == (100, 128, 128, 3) and shapes.images.dtype == np.uint8
    assert shapes.labels.dtype == np.int64
    assert set(shapes.labels.tolist()) == set(range(len(demo.CLASSES)))
    assert shapes.classes == demo.CLASSES == ("circle", "square", "triangle", "star", "cross", "ring")
    assert len(shapes) == 100 and len(shapes.boxes) == 100
    assert {len(b) for b in shapes.boxes} == {1, 2, 3}
    image, label = shapes[4]
    assert np.array_equal(image, shapes.images[4]) and label == shapes.labels[4]
    small = make_shapes(3, seed=0, size=64)
    assert small.images.shape == (3, 64, 64, 3)
    assert all(0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64 for b in small.boxes for x0, y0, x1, y1 in b)


def test_boxes_inside_image_with_plausible_sizes(shapes):
    for image_boxes in shapes.boxes:
        for x0, y0, x1, y1 in image_boxes:
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
            assert 8 <= x1 - x0 <= 57 and 8 <= y1 - y0 <= 57


def _box_check(image, box, others, pad=4):
    """Whether ``box`` tightly frames a distinct object in ``image``.

    Pixels are split between the background colour (median of the strips just
    outside the box, away from other boxes) and the object colour (median of
    the box pixels least like the background). A good box holds many object
    pixels, has object pixels along each of its edges, and has almost none in
    any of the strips outside it.
    """
    x0, y0, x1, y1 = box
    pixels = image.astype(np.float32)
    free = np.ones(image.shape[:2], bool)  # not covered by another object
    for ox0, oy0, ox1, oy1 in others:
        free[max(oy0 - 2, 0) : oy1 + 2, max(ox0 - 2, 0) : ox1 + 2] = False
    # Strips beyond each side; the first pixel out is skipped, being antialiased.
    sides = [
        np.s_[max(y0 - pad, 0) : max(y0 - 1, 0), x0:x1],
        np.s_[y1 + 1 : y1 + pad, x0:x1],
        np.s_[y0:y1, max(x0 - pad, 0) : max(x0 - 1, 0)],
        np.s_[y0:y1, x1 + 1 : x1 + pad],
    ]
    outside = [pixels[side][free[side]] for side in sides]
    background = np.median(np.concatenate(outside), axis=0)
    inside = pixels[y0:y1, x0:x1]
    far = np.linalg.norm(inside - background, axis=2)
    colour = np.median(inside[far >= np.quantile(far, 0.8)], axis=0)

    def is_object(p):
        return np.linalg.norm(p - colour, axis=-1) < np.linalg.norm(p - background, axis=-1)

    crop = is_object(inside)
    edges = (crop[:2].any(), crop[-2:].any(), crop[:, :2].any(), crop[:, -2:].any())
    leaks = [is_object(strip).mean() for strip in outside if len(strip)]
    return crop.mean() >= 0.25 and all(edges) and max(leaks) <= 0.02


def _pass_rate(shapes, move):
    results = [
        _box_check(image, move(box), boxes[:k] + boxes[k + 1 :])
        for image, boxes in zip(shapes.images, shapes.boxes)
        for k, box in enumerate(boxes)
    ]
    return np.mean(results)


def test_boxes_tightly_frame_distinct_objects(shapes):
    assert _pass_rate(shapes, lambda b: b) >= 0.95


@pytest.mark.parametrize(
    "move",
    [
        lambda b: (b[0] + 4, b[1] + 4, b[2] + 4, b[3] + 4),  # shifted
        lambda b: (b[0] - 3, b[1] - 3, b[2] + 3, b[3] + 3),  # loose
        lambda b: (b[0] + 3, b[1] + 3, b[2] - 3, b[3] - 3),  # cropped
    ],
    ids=["shifted", "loose", "cropped"],
)
def test_box_check_rejects_wrong_boxes(shapes, move):
    def moved(box):
        return tuple(int(np.clip(v, 0, 128)) for v in move(box))

    assert _pass_rate(shapes, moved) <= 0.1


def test_shapes_model_is_a_trained_eval_model():
    model = demo.shapes_model()
    assert not any(m.training for m in model.modules())
    names = [name for name, _ in model.named_modules()][1:]
    assert names[:5] == ["conv1", "bn1", "relu1", "pool1", "conv2"]
    assert names[-5:] == ["conv4", "bn4", "relu4", "gap", "fc"]
    data = demo.shapes_dataset(200, seed=TEST_SEED + 1)
    with torch.no_grad():
        predicted = model(demo.to_tensor(data.images)).argmax(1).numpy()
        other_size = model(torch.rand(2, 3, 48, 80))
    assert np.mean(predicted == data.labels) >= 0.9
    assert other_size.shape == (2, len(demo.CLASSES))


def test_shipped_weights_are_small_and_documented():
    assert demo.WEIGHTS.stat().st_size < 5e6
    info = json.loads(demo.WEIGHTS.with_suffix(".json").read_text())
    assert info["heldout_accuracy"] >= 0.95
    assert info["seed"] not in (TEST_SEED, TEST_SEED + 1)
    assert {"n_train", "n_heldout", "epochs", "train_seconds", "torch_version"} <= set(info)


def test_shapes_images_are_the_dataset_images():
    pictures = demo.shapes_images(3, seed=5)
    assert len(pictures) == 3 and all(p.mode == "RGB" and p.size == (128, 128) for p in pictures)
    assert np.array_equal(np.stack([np.asarray(p) for p in pictures]), demo.shapes_dataset(3, seed=5).images)


def test_photos_are_bundled_rgb_images():
    found = demo.photos()
    assert len(found) >= 2
    for picture in found.values():
        assert isinstance(picture, Image.Image) and picture.mode == "RGB"
        assert min(picture.size) > 100
