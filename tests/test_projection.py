import numpy as np
import pytest
import torch
from torch import nn

import xai_widgets as xw
from float_bounds import EPS32
from xai_widgets.similarity.projection import (
    Reduction,
    map_agreement,
    map_fidelity,
    pca_basis,
    prepare_vectors,
    project,
    reduce_to_budget,
)
from xai_widgets.similarity import unit_vectors


def planted(rank=5, channels=32, n=3, hw=(6, 7), seed=0):
    """Non-negative activations lying exactly in a ``rank``-dimensional subspace of C channels."""
    g = torch.Generator().manual_seed(seed)
    coeffs = torch.rand(n, rank, *hw, generator=g)
    directions = torch.rand(rank, channels, generator=g)
    return torch.einsum("nrhw,rc->nchw", coeffs, directions)


@pytest.fixture(scope="module")
def random_net_acts():
    """Post-ReLU activations (4 x 48 x 24 x 24) of a small random conv net on the demo images."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 48, 3, padding=1), nn.BatchNorm2d(48), nn.ReLU(),
    )
    images = [torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255 for im in xw.demo.shapes_images(4, seed=1)]
    x = nn.functional.interpolate(torch.stack(images), size=(48, 48), mode="area")
    with torch.no_grad():
        return net.train()(x)  # batch statistics: centred pre-activations, sparse ReLU outputs


def test_planted_low_rank_is_lossless():
    acts = planted()
    vectors = prepare_vectors(acts)  # unit vectors of the planted ones stay in the subspace
    mean, basis = pca_basis(vectors, 5)
    assert basis.shape == (32, 5) and mean.abs().max() == 0
    # LAPACK's float32 eigenvectors are orthonormal to O(C eps), and the products here are
    # C-term sums of unit-vector components: 2 C eps (7.6e-6 for C = 32)
    C = basis.shape[0]
    torch.testing.assert_close(basis.T @ basis, torch.eye(5), atol=2 * C * EPS32, rtol=0)
    reduced = project(vectors, basis)
    assert reduced.shape == (3, 5, 6, 7)
    agreement = map_agreement(acts, reduced)
    assert agreement.pearson > 1 - 1e-5 and agreement.max_abs_error < 1e-5
    # one dimension short is not lossless
    assert map_fidelity(acts, project(vectors, basis, 4)) < 0.9999


def test_fidelity_is_high_for_large_d_and_falls_as_d_shrinks(random_net_acts):
    acts = random_net_acts
    vectors = prepare_vectors(acts)
    _, basis = pca_basis(vectors)
    ds = [48, 32, 24, 16, 12, 8, 4, 2, 1]
    fid = [map_fidelity(acts, project(vectors, basis, d)) for d in ds]
    assert fid[0] == pytest.approx(1.0, abs=1e-6)  # a rotation: nothing lost
    assert fid[1] > 0.99
    for bigger, smaller in zip(fid, fid[1:]):
        assert smaller <= bigger + 0.005  # monotone within the query sampling noise
    assert fid[-1] < 0.5 < fid[3]


def test_uncentred_basis_keeps_the_dot_products_best(random_net_acts):
    """The choice documented in the module: no centring. The uncentred basis has the smallest
    Gram-matrix error of any d-dimensional projection (Eckart-Young), and its maps keep the
    values a fixed colour range shows; a centred (PCA) basis does not."""
    acts = random_net_acts
    vectors = prepare_vectors(acts)
    rows = vectors.permute(0, 2, 3, 1).reshape(-1, 48).double()
    gram = rows @ rows.T
    for d in (2, 8, 16, 32):
        _, b = pca_basis(vectors, d)
        mean_c, b_c = pca_basis(vectors, d, centre=True)
        assert mean_c.abs().max() > 0.05
        err = (gram - (rows @ b.double()) @ (rows @ b.double()).T).norm()
        err_c = (gram - (rows @ b_c.double()) @ (rows @ b_c.double()).T).norm()
        assert err <= err_c * (1 + 1e-6), d
        plain = map_agreement(acts, project(vectors, b))
        centred_basis = map_agreement(acts, project(vectors, b_c))
        centred_coords = map_agreement(acts, project(vectors, b_c, mean=mean_c))  # PCA scores
        assert plain.mean_abs_error < 0.5 * centred_basis.mean_abs_error, d
        assert plain.mean_abs_error < 0.5 * centred_coords.mean_abs_error, d
    # self-similarity (1 in the full maps) is kept far better without centring
    _, b = pca_basis(vectors, 8)
    _, b_c = pca_basis(vectors, 8, centre=True)
    r, r_c = project(vectors, b), project(vectors, b_c)
    self_sim, self_sim_c = (r.norm(dim=1) ** 2).mean(), (r_c.norm(dim=1) ** 2).mean()  # 0.79 and 0.48
    assert self_sim > 1.4 * self_sim_c


def test_renormalising_reduced_vectors_loses_fidelity(random_net_acts):
    """The other documented choice: ship the projected coordinates as they are."""
    acts = random_net_acts
    vectors = prepare_vectors(acts)
    _, basis = pca_basis(vectors)
    for d in (8, 16, 24):  # 5th-percentile correlation 0.85 to 0.99: the range a budget would pick from
        plain, renormalised = project(vectors, basis, d), unit_vectors(project(vectors, basis, d))
        assert map_fidelity(acts, plain) >= map_fidelity(acts, renormalised)
        assert map_agreement(acts, plain).pearson >= map_agreement(acts, renormalised).pearson


def numpy_prepare(acts: np.ndarray, similarity: str) -> np.ndarray:
    """Independent reference: loops over cells, float64."""
    a = acts.astype(np.float64)
    if similarity == "dot":
        return a
    n, c, h, w = a.shape
    if similarity == "centred":
        cells = [a[i, :, u, v] for i in range(n) for u in range(h) for v in range(w)]
        a = a - (sum(cells) / len(cells))[None, :, None, None]
    out = np.zeros_like(a)
    for i in range(n):
        for u in range(h):
            for v in range(w):
                z = a[i, :, u, v]
                nz = np.linalg.norm(z)
                out[i, :, u, v] = z / nz if nz > 0 else 0
    return out


@pytest.mark.parametrize("similarity", ["cosine", "dot", "centred"])
def test_prepare_vectors_matches_numpy(similarity):
    rng = np.random.default_rng(3)
    acts = np.maximum(rng.standard_normal((2, 6, 3, 4)), 0).astype(np.float32)
    acts[1, :, 0, 2] = 0  # a dead cell
    got = prepare_vectors(torch.from_numpy(acts), similarity).numpy()
    # float32 against float64: a unit vector costs a C-term norm, a sqrt and a division,
    # (C + 3) roundings of u = eps / 2; centring first subtracts a mean over M cells, off by
    # (M + 1) u * max|a|, which the division by each centred norm magnifies
    u, (n, C, h, w) = EPS32 / 2, acts.shape
    tol = 0.0 if similarity == "dot" else (C + 3) * u
    if similarity == "centred":
        a = acts.astype(np.float64)
        norms = np.linalg.norm(a - a.mean(axis=(0, 2, 3), keepdims=True), axis=1)
        tol += (n * h * w + 1) * u * np.abs(a).max() / norms[norms > 0].min()
    np.testing.assert_allclose(got, numpy_prepare(acts, similarity), atol=tol, rtol=0)
    if similarity == "cosine":
        assert (got[1, :, 0, 2] == 0).all()
        # plain dot products are the cosines of similarity.cosine_map
        q = acts[0, :, 1, 1]
        maps = np.einsum("nchw,c->nhw", got, got[0, :, 1, 1])
        np.testing.assert_allclose(maps, xw.cosine_map(torch.from_numpy(acts), torch.from_numpy(q)).numpy(), atol=1e-6)
    if similarity == "centred":
        assert got.min() < 0  # post-ReLU cosines were all >= 0; centred ones are not


def test_linear_layers_are_one_by_one_maps():
    acts = torch.rand(10, 12)
    v = prepare_vectors(acts)
    assert v.shape == (10, 12, 1, 1)
    _, basis = pca_basis(v, 3)
    assert project(v, basis).shape == (10, 3, 1, 1)
    # fewer cells (10) than channels (12): the basis is still 12 x 12 and d = 10 is lossless
    _, full = pca_basis(v)
    assert full.shape == (12, 12)
    assert map_fidelity(acts, project(v, full, 10)) > 1 - 1e-5


def test_map_fidelity_of_the_full_vectors_is_one():
    acts = planted(rank=8, channels=16)
    for similarity in ("cosine", "dot", "centred"):
        vectors = prepare_vectors(acts, similarity)
        agreement = map_agreement(acts, vectors, similarity=similarity, n_queries=10)
        assert agreement.pearson == pytest.approx(1.0, abs=1e-6) and agreement.max_abs_error < 1e-5
        assert agreement.n_queries == 10
    # more queries than cells: every cell once
    assert map_agreement(acts, prepare_vectors(acts), n_queries=10_000).n_queries == 3 * 6 * 7


def test_budget_chooses_the_smallest_d_that_keeps_fidelity(random_net_acts):
    layers = {"low": planted(rank=5, channels=32, n=4, hw=(8, 8)), "net": random_net_acts}
    result = reduce_to_budget(layers, max_bytes=1 << 20, min_fidelity=0.99)
    assert set(result) == {"low", "net"}
    low, net = result["low"], result["net"]
    assert isinstance(low, Reduction) and low.d <= 5 and low.channels == 32
    for name, r in result.items():
        acts = layers[name]
        assert r.payload.dtype == torch.float16
        assert r.payload.shape == (acts.shape[0], r.d, *acts.shape[2:])
        assert r.nbytes == acts.shape[0] * acts.shape[2] * acts.shape[3] * r.d * 2
        assert r.factor == r.channels / r.d
        assert r.fidelity >= 0.99
        assert map_fidelity(acts, r.payload) == pytest.approx(r.fidelity, abs=1e-6)
        if r.d > 1:  # minimal: one dimension fewer misses the target
            fewer = project(prepare_vectors(acts), r.basis, r.d - 1).half()
            assert map_fidelity(acts, fewer) < 0.99
    assert sum(r.nbytes for r in result.values()) <= 1 << 20
    assert 1 < net.d < 48
    # a stricter target needs more dimensions
    assert reduce_to_budget({"net": random_net_acts}, 1 << 20, min_fidelity=0.999)["net"].d > net.d
    # float32 payloads: exactly rank 5 for the planted layer at a near-lossless target
    exact = reduce_to_budget({"low": layers["low"]}, 1 << 20, bytes_per_value=4, min_fidelity=1 - 1e-6)["low"]
    assert exact.d == 5 and exact.payload.dtype == torch.float32


def test_budget_too_small_raises_a_clear_error(random_net_acts):
    need = reduce_to_budget({"net": random_net_acts}, 1 << 30)["net"].nbytes
    with pytest.raises(ValueError, match=r"net: d=\d+ of 48 .*over the budget") as info:
        reduce_to_budget({"net": random_net_acts}, need - 1)
    assert "min_fidelity" in str(info.value)
    assert reduce_to_budget({"net": random_net_acts}, need)["net"].nbytes == need


def test_bad_input():
    acts = planted()
    with pytest.raises(ValueError, match="unknown similarity"):
        prepare_vectors(acts, "euclidean")
    for d in (0, 33, 2.5, True):
        with pytest.raises(ValueError, match="d must be an integer"):
            pca_basis(acts, d)
    with pytest.raises(ValueError, match="must be N x C x H x W maps or N x C vectors"):
        prepare_vectors(torch.zeros(2, 3, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        prepare_vectors(np.zeros((1, 2, 3, 3)))
    with pytest.raises(ValueError, match="floating point"):
        prepare_vectors(torch.zeros(1, 2, 3, 3, dtype=torch.int64))
    bad = acts.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        pca_basis(bad, 2)
    with pytest.raises(ValueError, match="basis must be C x d"):
        project(acts, torch.zeros(31, 4))
    with pytest.raises(ValueError, match="same images and grid"):
        map_fidelity(acts, torch.zeros(3, 4, 6, 6))
    with pytest.raises(ValueError, match="n_queries"):
        map_agreement(acts, acts, n_queries=0)
    with pytest.raises(ValueError, match="map is constant"):
        map_fidelity(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="every activation vector is zero"):
        map_agreement(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="bytes_per_value"):
        reduce_to_budget({"a": acts}, 1 << 20, bytes_per_value=3)
    for bad_fidelity in (1.5, 0, "0.9", True):
        with pytest.raises(ValueError, match=r"min_fidelity must be a number in \(0, 1\]"):
            reduce_to_budget({"a": acts}, 1 << 20, min_fidelity=bad_fidelity)
    with pytest.raises(ValueError, match="no layers"):
        reduce_to_budget({}, 1 << 20)
    with pytest.raises(ValueError, match="layer 'a'.*unknown similarity"):
        reduce_to_budget({"a": acts}, 1 << 20, similarity="l2")
    with pytest.raises(ValueError, match="overflow"):
        reduce_to_budget({"a": acts * 1e5}, 1 << 30, similarity="dot")


def test_runs_on_the_device_of_the_activations():
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        acts = planted().to(device)
        vectors = prepare_vectors(acts, "centred")
        mean, basis = pca_basis(vectors, 4, centre=True)
        assert vectors.device == mean.device == basis.device == acts.device
        assert project(vectors, basis, mean=mean).device == acts.device
        r = reduce_to_budget({"a": acts}, 1 << 20)["a"]
        assert r.payload.device == acts.device
