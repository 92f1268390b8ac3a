"""Class bias views (Palacio 2023): label histogram, routed accuracy, class distance, balanced grouping."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from xai_widgets import bias


def test_label_histogram_against_numpy():
    rng = np.random.default_rng(0)
    y = rng.choice(6, size=200, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    p = np.where(rng.random(200) < 0.8, y, (y + 1) % 6)
    h = bias.label_histogram(y, classes=6, partitions={"big": [0], "rest": [1, 2, 3, 4, 5]}, predictions=p)
    np.testing.assert_array_equal(h.counts, np.bincount(y, minlength=6))
    assert h.shares["big"] == pytest.approx((y == 0).mean()) and h.shares["all"] == 1.0
    assert h.accuracy["rest"] == pytest.approx((p[y != 0] == y[y != 0]).mean())
    assert h.over_represented == [0]
    with pytest.raises(ValueError, match="overlaps"):
        bias.label_histogram(y, partitions={"a": [0, 1], "b": [1]})


def test_routed_accuracy_reproduces_palacio():
    shares = {"polar": 11 / 29, "non-polar": 18 / 29}
    assert bias.routed_accuracy(shares, {"polar": 0.796, "non-polar": 0.516}) == pytest.approx(0.6222, abs=5e-5)
    assert bias.routed_accuracy(shares, {"polar": 0.804, "non-polar": 0.514}) == pytest.approx(0.6240, abs=5e-5)


def test_class_distance_by_hand():
    c = np.array([[5, 3, 1], [0, 4, 0], [1, 0, 6]])
    d = np.array([[0, 3, 1], [0, 0, 0], [1, 0, 0]]) / 5  # off-diagonal, summing to 1
    s = 1 - d
    np.testing.assert_allclose(bias.class_distance(c), np.where(np.eye(3, dtype=bool), 0, (s + s.T) / 2))
    np.testing.assert_allclose(bias.class_distance(c, similar=False), np.where(np.eye(3, dtype=bool), 0, (d + d.T) / 2))
    with pytest.raises(ValueError, match="no off-diagonal"):
        bias.class_distance(np.eye(3))


def _blocks(k: int, size: int) -> np.ndarray:
    """A confusion matrix where the classes of each block of ``size`` are confused with one another only."""
    c = np.eye(k) * 50
    for start in range(0, k, size):
        block = slice(start, start + size)
        c[block, block] += 5 - 5 * np.eye(size)
    return c


def test_grouping_seeds_with_the_farthest_labels_and_joins_the_nearest():
    # pairs (0, 1), (2, 3), ... are close; the even label of each pair is a little farther from
    # everything else, so the four seeds are 0, 2, 4, 6 and each odd label joins its partner
    dist = np.ones((8, 8))
    for i in range(0, 8, 2):
        dist[i, :] += 0.05
        dist[:, i] += 0.05
        dist[i, i + 1] = dist[i + 1, i] = 0.2
    np.fill_diagonal(dist, 0)
    groups = bias.balanced_groups(dist, 4)
    assert groups[[0, 2, 4, 6]].tolist() == [0, 1, 2, 3]
    assert groups[[1, 3, 5, 7]].tolist() == [0, 1, 2, 3]


def test_the_dissimilar_mode_splits_the_classes_a_model_confuses():
    apart = bias.balanced_groups(bias.class_distance(_blocks(8, 2), similar=False), 4)
    assert all(apart[i] != apart[i + 1] for i in range(0, 8, 2))
    assert np.bincount(apart).tolist() == [2, 2, 2, 2]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(4, 40), data=st.data())
def test_groups_are_balanced_and_deterministic(seed, k, data):
    g = data.draw(st.integers(2, k // 2))
    rng = np.random.default_rng(seed)
    dist = bias.class_distance(rng.integers(0, 20, size=(k, k)) + np.eye(k, dtype=int) * 100)
    groups = bias.balanced_groups(dist, g, seed=seed)
    sizes = np.bincount(groups, minlength=g)
    assert sizes.min() >= 1 and sizes.max() <= -(-k // g)
    np.testing.assert_array_equal(groups, bias.balanced_groups(dist, g, seed=seed))


def test_hundred_classes_in_twenty_groups_of_five():
    rng = np.random.default_rng(1)
    dist = bias.class_distance(rng.integers(0, 10, size=(100, 100)))
    assert np.bincount(bias.balanced_groups(dist, 20), minlength=20).tolist() == [5] * 20
    for bad in (1, 51, 2.5):
        with pytest.raises(ValueError, match="2 <= groups <= 50"):
            bias.balanced_groups(dist, bad)


def test_confusion_matrix_counts():
    c = bias.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(c, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
