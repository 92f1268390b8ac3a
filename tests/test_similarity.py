import numpy as np
import pytest
import torch

from float_bounds import EPS32
from xai_widgets import colormaps
from xai_widgets.similarity import cosine_map, synced_cell, unit_vectors


def numpy_cosine(acts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Independent reference: explicit loops over cells, float64."""
    n, c, h, w = acts.shape
    out = np.zeros((n, h, w))
    for i in range(n):
        for u in range(h):
            for v in range(w):
                z = acts[i, :, u, v].astype(np.float64)
                nz = np.linalg.norm(z)
                out[i, u, v] = 0.0 if nz == 0 else z @ q / (nz * np.linalg.norm(q))
    return out


def test_cosine_map_matches_numpy_and_self_similarity_is_one():
    rng = np.random.default_rng(1)
    acts = np.maximum(rng.standard_normal((3, 16, 5, 6)), 0).astype(np.float32)
    acts[1, :, 2, 3] = 0  # a dead cell: similarity 0, not NaN
    q = acts[0, :, 1, 4]
    got = cosine_map(torch.from_numpy(acts), torch.from_numpy(q)).numpy()
    # float32 against float64: a C-term dot product and two C-term norms, a sqrt, a product and a
    # division in float32, (2 C + 4) roundings of u = eps / 2 at most (2.1e-6 for C = 16)
    tol = (2 * acts.shape[1] + 4) * EPS32 / 2
    np.testing.assert_allclose(got, numpy_cosine(acts, q.astype(np.float64)), atol=tol, rtol=0)
    assert got[0, 1, 4] == pytest.approx(1.0, abs=tol)
    assert got[1, 2, 3] == 0.0
    assert got.min() >= 0  # post-ReLU vectors: cosine in [0, 1] (Fong, DPhil thesis, 2020, footnote 17)


def test_unit_vectors_have_unit_norm():
    x = torch.randn(2, 7, 3, 3)
    # the norm of C = 7 components rounded once each: (C + 2) roundings there and as many here
    tol = 2 * (x.shape[1] + 2) * EPS32 / 2
    np.testing.assert_allclose(unit_vectors(x).norm(dim=1).numpy(), 1.0, atol=tol, rtol=0)


def test_cosine_map_rejects_mismatched_query():
    with pytest.raises(ValueError, match="query of C values"):
        cosine_map(torch.zeros(1, 4, 2, 2), torch.zeros(5))


@pytest.mark.parametrize(
    "cell, src, dst, expected",
    [((0, 0), (28, 28), (14, 14), (0, 0)), ((27, 27), (28, 28), (7, 7), (6, 6)),
     ((3, 5), (8, 8), (8, 8), (3, 5)), ((1, 2), (4, 4), (16, 16), (6, 10)),
     ((0, 0), (1, 1), (4, 6), (2, 3))],
)
def test_synced_cell_maps_cell_centres(cell, src, dst, expected):
    assert synced_cell(*cell, src, dst) == expected


def test_colormaps_lut_and_apply():
    for name, table in colormaps.LUTS.items():
        assert table.shape == (256, 3) and table.dtype == np.uint8, name
    gray = colormaps.apply(np.array([-1.0, 0.0, 0.5, 1.0, 2.0]), "gray", 0.0, 1.0)
    np.testing.assert_array_equal(gray[:, 0], [0, 0, 128, 255, 255])
    div = colormaps.lut("diverging")
    assert div[0, 2] > div[0, 0] and div[255, 0] > div[255, 2]  # blue for negative, red for positive
    with pytest.raises(ValueError, match="choose one of"):
        colormaps.lut("jet")
