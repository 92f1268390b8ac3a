"""The reduction's criterion: at least 95% of query cells keep map correlation >= min_fidelity.

Every figure is recomputed here with numpy from explicit similarity maps (float64), not
from the Gram-matrix sums the module uses.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xai_widgets as xw
from xai_widgets import wire
from xai_widgets.similarity.projection import pca_basis, prepare_vectors, project, query_correlations, reduce_to_budget

BETAS = (0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45)


def numpy_correlations(acts: torch.Tensor, reduced: torch.Tensor, similarity: str = "cosine") -> dict:
    """{(image, row, col): correlation of the full and the reduced map} for every cell whose
    full map is not constant; a constant reduced map scores 0."""
    ref = prepare_vectors(acts, similarity).double().numpy()
    n, _, h, w = ref.shape
    x = ref.transpose(0, 2, 3, 1).reshape(n * h * w, -1)
    y = reduced.double().numpy().transpose(0, 2, 3, 1).reshape(n * h * w, -1)
    full, red = x @ x.T, y @ y.T
    out = {}
    for i in range(len(x)):
        a, b = full[i], red[i]
        if a.std() <= 1e-5 * np.sqrt((a * a).mean()):
            continue
        out[(i // (h * w), i % (h * w) // w, i % w)] = 0.0 if b.std() <= 1e-5 * np.sqrt((b * b).mean()) \
            else float(np.corrcoef(a, b)[0, 1])
    return out


def fifth_percentile(values) -> float:
    """The largest value that at least 95% of ``values`` reach."""
    v = np.sort(np.asarray(list(values)))
    return float(v[len(v) // 20])


def planted_outliers(seed: int = 0):
    """2 x 16 x 6 x 8 activations, every cell a unit vector in the plane of channels 0 and 1
    except 10 outliers (over 5% of the 96 cells), outlier k with a component BETAS[k] along
    its own channel 2 + k. The plane carries most of the energy, so principal directions 1
    and 2 keep every other cell's map exactly (its vector lies in the plane) and lose the
    outliers' own components."""
    g = np.random.default_rng(seed)
    n, c, h, w = 2, 16, 6, 8
    theta = g.uniform(0, np.pi / 2, (n, h, w))
    acts = np.zeros((n, c, h, w))
    acts[:, 0], acts[:, 1] = np.cos(theta), np.sin(theta)
    cells = [(int(f) // (h * w), int(f) % (h * w) // w, int(f) % w) for f in g.choice(n * h * w, 10, replace=False)]
    for k, (i, u, v) in enumerate(cells):
        acts[i, :2, u, v] *= np.sqrt(1 - BETAS[k] ** 2)
        acts[i, 2 + k, u, v] = BETAS[k]
    return torch.from_numpy(acts).float(), cells


def test_the_percentile_sees_the_outliers_the_mean_hides():
    acts, outliers = planted_outliers()
    vectors = prepare_vectors(acts)
    _, basis = pca_basis(vectors)
    two = numpy_correlations(acts, project(vectors, basis, 2))
    assert np.mean(list(two.values())) >= 0.99  # a mean criterion would ship d = 2
    assert fifth_percentile(two.values()) < 0.95
    # the 10 worst query cells at d = 2 are exactly the outliers, and their values are numpy's
    got = query_correlations(acts, project(vectors, basis, 2))
    assert sorted(c[:3] for c in got.worst) == sorted(outliers)
    for image, row, col, r in got.worst:
        assert r == pytest.approx(two[(image, row, col)], abs=1e-6)
    assert got.n_queries == len(two) == 96

    chosen = reduce_to_budget({"a": acts}, 1 << 20, bytes_per_value=4, min_fidelity=0.99)["a"]
    per_d = {d: numpy_correlations(acts, chosen.payload[:, :d]) for d in range(1, chosen.d + 1)}
    assert chosen.d > 2
    assert fifth_percentile(per_d[chosen.d].values()) >= 0.99
    assert all(fifth_percentile(per_d[d].values()) < 0.99 for d in range(1, chosen.d))
    r = per_d[chosen.d]
    assert chosen.fidelity == pytest.approx(fifth_percentile(r.values()), abs=1e-6)
    assert sum(v >= chosen.fidelity - 1e-6 for v in r.values()) >= 0.95 * len(r)  # float32 figure
    assert chosen.correlations.mean == pytest.approx(np.mean(list(r.values())), abs=1e-6)
    assert chosen.correlations.min == pytest.approx(min(r.values()), abs=1e-6)
    # the cells still short of 0.99 are outliers, and they lead the worst list
    short = {cell for cell, v in r.items() if v < 0.99}
    assert short and short <= set(outliers)
    assert {c[:3] for c in chosen.correlations.worst[:len(short)]} == short


def low_rank_relu(seed: int, n: int, c: int, h: int, w: int, rank: int) -> torch.Tensor:
    """Post-ReLU-like activations near a rank-``rank`` subspace, with a little noise."""
    g = torch.Generator().manual_seed(seed)
    coeffs = torch.randn(n, rank, h, w, generator=g)
    acts = torch.einsum("nrhw,rc->nchw", coeffs, torch.randn(rank, c, generator=g))
    return torch.relu(acts + 0.05 * torch.randn(n, c, h, w, generator=g))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shape=st.tuples(st.integers(1, 2), st.integers(2, 8), st.integers(2, 4), st.integers(2, 4)),
    rank=st.integers(1, 4),
    min_fidelity=st.floats(0.5, 0.999),
    similarity=st.sampled_from(["cosine", "centred"]),
)
def test_the_chosen_d_is_the_smallest_that_meets_the_criterion(seed, shape, rank, min_fidelity, similarity):
    acts = low_rank_relu(seed, *shape, rank)
    try:
        chosen = reduce_to_budget({"a": acts}, 1 << 20, min_fidelity=min_fidelity, similarity=similarity)["a"]
    except ValueError as e:  # all maps constant (e.g. every cell dead): refused, and said so
        assert "constant" in str(e)
        return
    p5 = {d: fifth_percentile(numpy_correlations(acts, chosen.payload[:, :d], similarity).values())
          for d in range(1, chosen.d + 1)}
    assert chosen.fidelity == pytest.approx(p5[chosen.d], abs=1e-5)
    assert chosen.fidelity >= min_fidelity - 1e-5 or chosen.d == chosen.channels  # d = C is always accepted
    assert all(p5[d] < min_fidelity + 1e-5 for d in range(1, chosen.d))
    r = numpy_correlations(acts, chosen.payload, similarity)
    lowest = sorted(r.values())[:10]
    assert [c[3] for c in chosen.correlations.worst] == pytest.approx(lowest, abs=1e-5)
    assert chosen.correlations.n_queries == len(r)


# ------------------------------------------------------------------ the widget
@pytest.fixture(scope="module")
def reduced_widget():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3, padding=1), torch.nn.ReLU())
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (20, 20, 3), dtype=np.uint8) for _ in range(4)]
    full = xw.SimilarityOverlay(model, imgs, "1", size=32)
    budget = wire.payload_bytes(full._data["layers"][0]["acts"][0]) * 4 * 3 // 4 + 4 * 3 * 32 * 32
    return full, xw.SimilarityOverlay(model, imgs, "1", size=32, max_bytes=budget)


def test_widget_reports_the_distribution_and_the_worst_cells(reduced_widget):
    full, w = reduced_widget
    r = w.reduction["1"]
    assert set(r) == {"d", "channels", "fidelity", "mean", "min", "criterion", "queries", "worst"}
    assert r["criterion"] == "5th percentile of per-query map correlation"
    assert r["min"] <= r["fidelity"] <= r["mean"] <= 1 and r["fidelity"] >= 0.99
    assert r["queries"] == 4 * 20 * 20 and len(r["worst"]) == 10
    assert [c["correlation"] for c in r["worst"]] == sorted(c["correlation"] for c in r["worst"])
    assert r["worst"][0]["correlation"] == r["min"]
    # each worst cell's correlation is that of the maps the widget shows, over all images
    for cell in r["worst"]:
        q = (cell["image"], "1", cell["row"], cell["col"])
        got = np.concatenate([m.numpy().ravel() for m in w.similarity_map(*q)])
        ref = np.concatenate([m.numpy().ravel() for m in full.similarity_map(*q)])
        assert np.corrcoef(got, ref)[0, 1] == pytest.approx(cell["correlation"], abs=2e-3)  # float16 maps
    assert "95% of query cells keep map correlation >= " in w.message
    assert w._data["layers"][0]["reduction"] == r  # what the browser gets
    assert "reduction" not in full._data["layers"][0]
    w.reduction["1"]["worst"][0]["image"] = 99  # a copy: the report cannot be edited from outside
    assert w.reduction["1"]["worst"][0]["image"] != 99


def test_png_outlines_the_worst_cells_on_request(reduced_widget):
    _, w = reduced_widget
    plain, marked = np.asarray(w.render_png(panel=80)), np.asarray(w.render_png(panel=80, show_worst=True))
    magenta = np.all(marked == (255, 0, 255), axis=-1)
    assert magenta.any() and not np.all(plain == (255, 0, 255), axis=-1).any()
    changed = (plain != marked).any(axis=-1)
    assert magenta[changed].all()  # the outlines are all that changed
    with pytest.raises(TypeError, match="show_worst must be True or False"):
        w.render_png(show_worst="yes")
