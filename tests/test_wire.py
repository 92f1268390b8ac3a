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


def test_int8_codes_pass_through_and_only_int8_is_taken():
    codes = torch.tensor([[-127, -1, 0], [1, 64, 127]], dtype=torch.int8)
    p = wire.encode(codes, "int8")
    assert p["shape"] == [2, 3] and (p["scale"], p["offset"]) == (1.0, 0.0) and wire.payload_bytes(p) == 6
    assert p["data"] == codes.numpy().tobytes()
    np.testing.assert_array_equal(wire.decode(p), codes.numpy().astype(np.float32))
    with pytest.raises(ValueError, match="int8 payloads take int8 tensors"):
        wire.encode(codes.float(), "int8")


def test_bad_dtype_is_rejected_with_the_accepted_list():
    with pytest.raises(ValueError, match="float16"):
        wire.encode(np.zeros(3), "int64")


def test_subnormal_halves_and_the_vectors_the_similarity_widgets_ship():
    """``subnormal_halves`` finds exactly the nonzero halves under 2^-14 in magnitude; the
    encoder keeps them (a PathMorph step difference can be that small), and ``half_vectors``,
    which makes the similarity widgets' vectors, sets them to 0 (the browser's hover kernel
    multiplies them slowly)."""
    from xai_widgets.similarity import half_vectors

    values = np.array([0.0, -0.0, 1e-7, -3e-5, 6.0e-5, -6.2e-5, 2.0 ** -14, 0.1, 1.0], dtype=np.float32)
    halves = torch.from_numpy(values.astype(np.float16))
    expected = (np.abs(values.astype(np.float16).astype(np.float32)) < 2.0 ** -14) & (values != 0)
    np.testing.assert_array_equal(wire.subnormal_halves(halves).numpy(), expected)
    assert expected.sum() == 3
    np.testing.assert_array_equal(wire.decode(wire.encode(halves, "float16")), halves.float().numpy())
    x = torch.tensor([[1.0, 1e-6, 0.0, -2e-6], [3.0, 4.0, 1e-5, 0.0]])
    for similarity, kept in (("cosine", [[1.0, 0, 0, 0], [0.6, 0.8, 0, 0]]), ("dot", [[1.0, 0, 0, 0], [3.0, 4.0, 0, 0]])):
        out = half_vectors(x, similarity)
        assert out.dtype == torch.float16 and not wire.subnormal_halves(out).any()
        torch.testing.assert_close(out.float(), torch.tensor(kept), rtol=1e-3, atol=0)


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"),
                                     ((1 << 20) - 1, "1024.0 KiB"), (1 << 20, "1.0 MiB"), (5 << 19, "2.5 MiB")])
def test_byte_counts_read_in_the_unit_that_suits_them(n, text):
    assert wire.fmt_bytes(n) == text


def test_the_payload_budget_refuses_only_past_it_and_says_both_sizes_and_the_remedy():
    wire.check_budget(2048, 2048, "this view", "Raise max_bytes.")  # at the budget: shipped
    with pytest.raises(ValueError, match=r"^this view would ship 2\.0 KiB to the browser, over max_bytes=1000 B\. "
                                         r"Raise max_bytes\.$"):
        wire.check_budget(2048, 1000, "this view", "Raise max_bytes.")
    with pytest.raises(ValueError, match="over max_bytes=2.0 KiB"):
        wire.check_budget(2048, 2047, "this view", "Raise max_bytes.")
    with pytest.raises(KeyError):
        wire.check_budget(1, 0, "x", "y", KeyError)


def test_flush_subnormals_zeroes_exactly_the_halves_under_the_smallest_normal():
    """Every one of the 65536 float16 bit patterns: subnormals and -0 become +0, everything else
    (normals, infinities, NaNs) keeps its bits; the tensor is changed in place."""
    bits = np.arange(-32768, 32768, dtype=np.int16)
    halves = torch.from_numpy(bits.copy()).view(torch.float16)
    values = bits.view(np.float16)
    tiny = np.abs(values.astype(np.float32)) < 2.0 ** -14  # NaN compares False: kept
    expected = np.where(tiny, np.int16(0), bits)
    out = wire.flush_subnormals_(halves)
    assert out.data_ptr() == halves.data_ptr()
    np.testing.assert_array_equal(out.view(torch.int16).numpy(), expected)
    assert tiny.sum() == 2 * 1023 + 2
