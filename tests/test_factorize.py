import itertools
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from float_bounds import EPS32
from xai_widgets import factorize
from xai_widgets.similarity.factorize import Factors, activation_factors, dominant, nmf

# Our error may exceed scikit-learn's (run to convergence from the same NNDSVD start) by at
# most this factor; in practice the two agree to about 1e-4.
SKLEARN_FACTOR = 1.01


def rel_error(X, W, H) -> float:
    """||X - WH|| / ||X|| in float64, the same measure for both implementations."""
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    return float(np.linalg.norm(X - W @ H) / np.linalg.norm(X))


def sklearn_error(X: np.ndarray, k: int) -> float:
    from sklearn.decomposition import NMF

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter is reached
        model = NMF(n_components=k, init="nndsvd", max_iter=3000, tol=1e-7)
        W = model.fit_transform(X)
    return rel_error(X, W, model.components_)


def conv_acts(seed: int = 0) -> torch.Tensor:
    """Post-ReLU activations of a tiny random conv net on random images: 4 x 24 x 14 x 14."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 16, 3), nn.ReLU(), nn.Conv2d(16, 24, 3), nn.ReLU())
    with torch.no_grad():
        return net(torch.rand(4, 3, 18, 18))


def rows(acts: torch.Tensor) -> torch.Tensor:
    return acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])


def best_match(pred: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Fraction of agreeing labels under the best permutation of the predicted labels."""
    return max(np.mean(np.asarray(perm)[pred] == truth) for perm in itertools.permutations(range(k)))


# ----------------------------------------------------------------------------- against sklearn


@pytest.mark.parametrize("seed, shape", [(0, (300, 40)), (1, (300, 40)), (2, (30, 200))])
def test_random_matrix_matches_sklearn(seed, shape):
    X = torch.rand(*shape, generator=torch.Generator().manual_seed(seed))
    res = nmf(X, 4)
    assert res.W.shape == (shape[0], 4) and res.H.shape == (4, shape[1])
    assert res.W.dtype == res.H.dtype == torch.float32
    assert (res.W >= 0).all() and (res.H >= 0).all()
    ours = rel_error(X, res.W, res.H)
    assert res.error == pytest.approx(ours, rel=1e-5)
    assert ours <= SKLEARN_FACTOR * sklearn_error(X.numpy(), 4)


def test_conv_activations_match_sklearn():
    acts = conv_acts()
    X = rows(acts)
    f = activation_factors(acts, 4)
    assert f.negative == "none"  # post-ReLU: nothing to handle
    W = f.maps.permute(0, 2, 3, 1).reshape(-1, 4)
    assert (f.maps >= 0).all() and (f.components >= 0).all()
    ours = rel_error(X, W, f.components)
    assert f.error == pytest.approx(ours, rel=1e-5)
    assert ours <= SKLEARN_FACTOR * sklearn_error(X.numpy(), 4)


def test_random_init_also_reaches_sklearn_quality():
    X = rows(conv_acts(1))
    res = nmf(X, 3, init="random", seed=5, iters=500, tol=1e-6)
    assert (res.W >= 0).all() and (res.H >= 0).all()
    assert res.error <= 1.02 * sklearn_error(X.numpy(), 3)


# ----------------------------------------------------------------------------- planted groups


def planted(k=3, n_img=6, c=30, hw=8, seed=0):
    """Activations built as W_true H_true: each cell belongs to one of k groups (its row of
    W_true is dominated by that group's component); H_true has one block of channels per group
    plus a weak shared background. Returns acts N x C x H x W and the labels N x H x W."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n_img, hw, hw), generator=g)
    W = 0.15 * torch.rand(n_img, hw, hw, k, generator=g)
    W.scatter_add_(-1, labels[..., None], 0.5 + torch.rand(n_img, hw, hw, 1, generator=g))
    H = 0.1 * torch.rand(k, c, generator=g)
    for j in range(k):
        H[j, j * (c // k):(j + 1) * (c // k)] += 1.0
    X = W @ H + 0.02 * torch.rand(n_img, hw, hw, c, generator=g)
    return X.permute(0, 3, 1, 2).contiguous(), labels


def test_planted_groups_are_recovered():
    acts, labels = planted()
    f = activation_factors(acts, 3)
    assert f.maps.shape == (6, 3, 8, 8)
    dom = dominant(f.maps)
    assert dom.shape == labels.shape and dom.dtype == torch.long
    assert best_match(dom.numpy().ravel(), labels.numpy().ravel(), 3) >= 0.95
    assert f.error < 0.05
    # The same through nmf on the flattened rows (row order: image, row, col).
    res = nmf(rows(acts), 3)
    assert res.iters < 200  # stopped by tol
    strength = res.W * res.H.norm(dim=1)  # W's columns are only comparable at a common scale
    assert best_match(strength.argmax(1).numpy(), labels.numpy().ravel(), 3) >= 0.95


def test_factors_are_ordered_by_strength_and_components_have_unit_norm():
    for acts in (conv_acts(), planted(seed=2)[0]):
        f = activation_factors(acts, 3)
        strength = f.maps.sum(dim=(0, 2, 3))
        assert torch.all(strength[:-1] >= strength[1:])
        # normalised by a float32 norm of d terms, then measured by another: (2 d + 3) roundings of u = eps / 2
        d = f.components.shape[1]
        np.testing.assert_allclose(f.components.norm(dim=1).numpy(), 1.0, atol=(2 * d + 3) * EPS32 / 2, rtol=0)


def test_maps_keep_the_spatial_layout():
    # Two groups: channel block 0 on the left half of every image, block 1 on the right.
    acts = torch.zeros(3, 4, 5, 6)
    acts[:, :2, :, :3] = 1.0
    acts[:, 2:, :, 3:] = 2.0
    f = activation_factors(acts, 2)
    dom = dominant(f.maps)
    assert f.error < 1e-4
    strong = int(dom[0, 0, 4])  # the right half has the larger total strength
    assert strong == 0
    assert (dom[:, :, 3:] == strong).all() and (dom[:, :, :3] == 1 - strong).all()


def test_dominant_blank_marks_empty_cells():
    maps = torch.zeros(1, 3, 2, 2)
    maps[0, 2, 0, 0] = 1.0
    maps[0, 1, 1, 1] = 0.5
    assert dominant(maps).tolist() == [[[2, 0], [0, 1]]]
    assert dominant(maps, blank=-1).tolist() == [[[2, -1], [-1, 1]]]


# ----------------------------------------------------------------------------- negative values


def test_split_handles_signed_activations():
    acts = torch.randn(2, 6, 5, 5, generator=torch.Generator().manual_seed(0))
    f = activation_factors(acts, 3)  # default for signed input
    assert f.negative == "split"
    assert f.components.shape == (3, 12)
    assert (f.maps >= 0).all() and (f.components >= 0).all()
    X = torch.cat([rows(acts).clamp_min(0), (-rows(acts)).clamp_min(0)], dim=1)
    W = f.maps.permute(0, 2, 3, 1).reshape(-1, 3)
    assert f.error == pytest.approx(rel_error(X, W, f.components), rel=1e-5)


def test_split_keeps_negative_groups_apart():
    # Channel 0 positive on the top rows, negative on the bottom rows: the same channel in both
    # halves, told apart only through the sign.
    acts = torch.zeros(2, 3, 4, 4)
    acts[:, 0, :2] = 1.0
    acts[:, 0, 2:] = -1.0
    f = activation_factors(acts, 2, negative="split")
    dom = dominant(f.maps)
    assert (dom[:, :2] == dom[0, 0, 0]).all() and (dom[:, 2:] != dom[0, 0, 0]).all()
    pos, neg = f.components[:, 0], f.components[:, 3]  # channel 0 and its negative part
    assert torch.allclose(torch.sort(pos).values, torch.tensor([0.0, 1.0]), atol=1e-4)
    assert torch.allclose(torch.sort(neg).values, torch.tensor([0.0, 1.0]), atol=1e-4)
    # "clip" loses the negative half: only one group is left, the bottom rows are empty.
    clipped = activation_factors(acts, 1, negative="clip")
    assert (clipped.maps[:, 0, 2:] == 0).all() and (clipped.maps[:, 0, :2] > 0).all()


def test_shift_and_clip_factorise_the_documented_matrix():
    acts = torch.randn(2, 5, 4, 4, generator=torch.Generator().manual_seed(1))
    shifted = activation_factors(acts, 2, negative="shift")
    assert shifted.negative == "shift" and shifted.components.shape == (2, 5)
    X = rows(acts) - acts.min()
    W = shifted.maps.permute(0, 2, 3, 1).reshape(-1, 2)
    assert shifted.error == pytest.approx(rel_error(X, W, shifted.components), rel=1e-5)

    clipped = activation_factors(acts, 2, negative="clip")
    assert clipped.negative == "clip" and clipped.components.shape == (2, 5)
    relu = activation_factors(acts.clamp_min(0), 2)
    assert torch.equal(clipped.maps, relu.maps) and clipped.error == relu.error


def test_choices_leave_non_negative_input_alone():
    acts = conv_acts()
    plain = activation_factors(acts, 3)
    assert plain.negative == "none"
    for choice in ("shift", "clip"):
        f = activation_factors(acts, 3, negative=choice)
        assert f.negative == choice and torch.equal(f.maps, plain.maps)
    split = activation_factors(acts, 3, negative="split")
    assert split.components.shape == (3, 48) and (split.components[:, 24:] == 0).all()
    # The same problem up to rounding (zero columns change the float32 summation order).
    assert split.error == pytest.approx(plain.error, rel=1e-3)


# ----------------------------------------------------------------------------- determinism, edge cases


def test_deterministic_given_seed():
    X = torch.rand(200, 30, generator=torch.Generator().manual_seed(3))
    a, b = nmf(X, 4, init="random", seed=7), nmf(X, 4, init="random", seed=7)
    assert torch.equal(a.W, b.W) and torch.equal(a.H, b.H) and a.iters == b.iters
    c = nmf(X, 4, init="random", seed=8)
    assert not torch.equal(a.W, c.W)
    d, e = nmf(X, 4), nmf(X, 4)
    assert torch.equal(d.W, e.W) and torch.equal(d.H, e.H)
    f1, f2 = activation_factors(conv_acts(), 3), activation_factors(conv_acts(), 3)
    assert torch.equal(f1.maps, f2.maps) and torch.equal(f1.components, f2.components)


def test_edge_cases():
    # More factors than the rank: no NaN, exact fit.
    X = torch.rand(50, 2) @ torch.rand(2, 10)
    res = nmf(X, 4)
    assert torch.isfinite(res.W).all() and torch.isfinite(res.H).all() and res.error < 1e-3
    # All zeros: the zero factorisation.
    z = nmf(torch.zeros(6, 5), 2)
    assert z.error == 0.0 and (z.W == 0).all()
    # float64 and integer input are computed in float32; k = min(n, d) is allowed.
    r = nmf(torch.rand(8, 3, dtype=torch.float64), 3)
    assert r.W.dtype == torch.float32 and r.error < 1e-3
    assert nmf(torch.randint(0, 5, (10, 4)), 2).H.shape == (2, 4)
    assert isinstance(activation_factors(torch.rand(1, 3, 1, 1), 1), Factors)


@pytest.mark.parametrize(
    "X, k, match",
    [
        (torch.rand(10), 2, "matrix"),
        (torch.rand(2, 3, 4), 2, "matrix"),
        (torch.rand(10, 4), 0, "between 1 and"),
        (torch.rand(10, 4), 5, "between 1 and"),
        (torch.rand(3, 8), 4, "between 1 and"),
        (torch.rand(10, 4), 2.0, "must be an int"),
        (torch.rand(10, 4), True, "must be an int"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), 1, "NaN"),
        (torch.tensor([[1.0, float("inf")], [0.0, 1.0]]), 1, "NaN or infinite"),
        (torch.tensor([[1.0, -1.0], [0.0, 1.0]]), 1, "non-negative"),
        (torch.zeros(0, 3), 1, "empty"),
        (np.ones((3, 3)), 1, "torch.Tensor"),
    ],
)
def test_nmf_rejects_bad_input(X, k, match):
    with pytest.raises(ValueError, match=match):
        nmf(X, k)


def test_bad_options_are_rejected():
    X = torch.rand(10, 4)
    with pytest.raises(ValueError, match="init"):
        nmf(X, 2, init="svd")
    with pytest.raises(ValueError, match="iters"):
        nmf(X, 2, iters=0)
    with pytest.raises(ValueError, match="tol"):
        nmf(X, 2, tol=-1)
    with pytest.raises(ValueError, match="N x C x H x W"):
        activation_factors(torch.rand(4, 3, 2), 2)
    with pytest.raises(ValueError, match="negative"):
        activation_factors(torch.rand(1, 4, 2, 2), 2, negative="abs")
    with pytest.raises(ValueError, match="between 1 and"):
        activation_factors(torch.rand(1, 4, 2, 2), 5)
    assert activation_factors(torch.randn(2, 4, 2, 2), 5, negative="split").components.shape == (5, 8)
    with pytest.raises(ValueError, match="NaN"):
        activation_factors(torch.full((1, 2, 2, 2), float("nan")), 1)
    with pytest.raises(ValueError, match="N x k x H x W"):
        dominant(torch.rand(3, 4, 4))


def test_cpu_nmf_runs_on_one_thread_and_restores_the_count(monkeypatch):
    """On the CPU the iterations run on one torch thread (two spin-waited on each other under
    load); the process's thread count is set back afterwards."""
    seen = []
    real = factorize._hals

    def spy(*args):
        seen.append(torch.get_num_threads())
        return real(*args)

    monkeypatch.setattr(factorize, "_hals", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        X = torch.rand(300, 20)
        result = factorize.nmf(X, 3, iters=5)
        assert seen == [1] and torch.get_num_threads() == 2
        assert result.W.shape == (300, 3)
    finally:
        torch.set_num_threads(before)
