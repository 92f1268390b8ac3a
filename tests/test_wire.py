import numpy as np
import pytest
import torch

from xai_widgets import wire


def test_float16_and_float32_roundtrip_bit_exact():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 7)).astype(np.float32)
    p32 = wire.encode(torch.from_numpy(x), "float32")
    assert p32["shape"] == [3, 5, 7] and wire.payload_bytes(p32) == x.size * 4
    np.testing.assert_array_equal(wire.decode(p32), x)
    p16 = wire.encode(x, "float16")
    assert wire.payload_bytes(p16) == x.size * 2
    np.testing.assert_array_equal(wire.decode(p16), x.astype(np.float16).astype(np.float32))
    # little-endian bytes, C order, as numpy would write them
    assert p16["data"] == x.astype("<f2").tobytes()


def test_uint8_affine_quantisation_error_within_half_step():
    x = torch.linspace(-2.0, 3.0, 1000).reshape(10, 100)
    p = wire.encode(x, "uint8")
    assert p["offset"] == pytest.approx(-2.0) and p["scale"] == pytest.approx(5.0 / 255)
    err = np.abs(wire.decode(p) - x.numpy())
    assert err.max() <= p["scale"] / 2 + 1e-6
    fixed = wire.encode(x, "uint8", lo=0.0, hi=1.0)  # clipped to the range asked for
    assert wire.decode(fixed).min() == 0.0 and wire.decode(fixed).max() == pytest.approx(1.0)


def test_uint8_images_pass_through_and_constant_tensor():
    img = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    p = wire.encode(img, "uint8")
    assert (p["scale"], p["offset"]) == (1.0, 0.0) and p["data"] == img.tobytes()
    c = wire.encode(torch.full((4,), 7.0), "uint8")
    np.testing.assert_allclose(wire.decode(c), 7.0)


def test_bad_dtype_is_rejected_with_the_accepted_list():
    with pytest.raises(ValueError, match="float16"):
        wire.encode(np.zeros(3), "int64")


def test_float16_sends_no_subnormals():
    """Values under the smallest normal half in magnitude go as 0; every other value is the half
    nearest to it, as numpy rounds."""
    values = np.array([0.0, -0.0, 1e-7, -3e-5, 6.0e-5, -6.2e-5, 2.0 ** -14, 0.1, -70000.0, 1.0], dtype=np.float32)
    got = wire.decode(wire.encode(values, "float16"))
    halves = values.astype(np.float16).astype(np.float32)
    subnormal = np.abs(halves) < 2.0 ** -14
    np.testing.assert_array_equal(got[subnormal], 0)
    np.testing.assert_array_equal(got[~subnormal], halves[~subnormal])
    assert subnormal.sum() == 5 and (np.abs(got) >= 2.0 ** -14).sum() == 5
