import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from xai_widgets.core.images import display_pixels, model_input, to_batch, to_rgb_array

rgb_model = nn.Sequential(nn.Conv2d(3, 2, 1))
grey_model = nn.Sequential(nn.Conv2d(1, 2, 1))


def test_all_accepted_forms_give_the_same_input():
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    ref = torch.from_numpy(arr).permute(2, 0, 1).float()[None] / 255
    forms = [arr, arr.astype(np.float32) / 255, Image.fromarray(arr), ref[0], ref,
             np.concatenate([arr, np.full((5, 7, 1), 255, np.uint8)], axis=2)]
    for form in forms:
        torch.testing.assert_close(model_input(form, rgb_model), ref)


def test_greyscale_is_matched_to_the_model_channels():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    x = model_input(grey, rgb_model)
    assert x.shape == (1, 3, 3, 4) and torch.equal(x[0, 0], x[0, 2])
    assert model_input(Image.fromarray(grey), grey_model).shape == (1, 1, 3, 4)
    assert model_input(np.zeros((3, 4, 3), np.uint8), grey_model).shape == (1, 1, 3, 4)
    assert to_rgb_array(grey).shape == (3, 4, 3)


def test_preprocess_is_used_and_checked():
    x = model_input(np.zeros((4, 4, 3), np.uint8), rgb_model, preprocess=lambda im: torch.ones(3, 2, 2))
    assert x.shape == (1, 3, 2, 2)
    with pytest.raises(ValueError, match="image 0: preprocess must return"):
        model_input(np.zeros((4, 4, 3), np.uint8), rgb_model, preprocess=lambda im: np.zeros(3))
    with pytest.raises(ValueError, match="image 0: preprocess raised ZeroDivisionError"):
        model_input(np.zeros((4, 4, 3), np.uint8), rgb_model, preprocess=lambda im: 1 / 0)


@pytest.mark.parametrize(
    "bad, match",
    [(np.zeros((2, 3, 5)), "shape"), (np.full((2, 2), 3.0), r"\[0, 1\]"), ("cat.png", "got str"),
     (torch.zeros(2, 5, 4, 4), "tensor of shape"), (np.full((2, 2), np.nan), "NaN"),
     (np.zeros((2, 2), np.int64), "dtype")],
)
def test_bad_images_get_clear_errors(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        model_input(bad, rgb_model, index=0)


def test_display_pixels_follow_model_input_aspect():
    img = np.zeros((50, 100, 3), np.uint8)
    assert display_pixels(img, (50, 100), 200).shape == (100, 200, 3)
    assert display_pixels(img, (100, 50), 120).shape == (120, 60, 3)


def test_to_batch_stacks_same_size_images_and_refuses_mixed_sizes():
    batch = to_batch([np.zeros((4, 5, 3), np.uint8), torch.ones(3, 4, 5)], rgb_model)
    assert batch.shape == (2, 3, 4, 5) and batch[1].min() == 1.0
    with pytest.raises(ValueError, match="differ in size"):
        to_batch([np.zeros((4, 5, 3), np.uint8), np.zeros((5, 5, 3), np.uint8)], rgb_model)


def test_one_uint8_conversion_for_tensors_and_arrays_rounds_half_to_even_and_clips():
    from xai_widgets.core.images import hwc_pixels, to_uint8

    v = np.array([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.2, 254.5 / 255, 1.0, 3.0], np.float32)
    # independent reference: Python's round (half to even) of the float32 product, one value at a time
    want = np.array([round(float(np.float32(min(max(x, 0.0), 1.0)) * np.float32(255))) for x in v], np.uint8)
    assert want[2] == 0 and want[3] == 2  # 0.5 and 1.5 go to the even neighbour
    np.testing.assert_array_equal(to_uint8(v), want)
    np.testing.assert_array_equal(to_uint8(torch.from_numpy(v)).numpy(), want)
    grey = torch.rand(2, 1, 3, 4)
    px = hwc_pixels(grey)
    assert px.shape == (2, 3, 4, 3) and px.dtype == np.uint8 and px.flags.c_contiguous
    np.testing.assert_array_equal(px[..., 2], to_uint8(grey[:, 0]).numpy())
