"""ConceptExplorer on a model whose answers are planted (tests/test_net2vec.py): what it ships is
checked against numpy recomputations (the decile examples, the bar order, the neighbours, the
per-image IoU and the drawn pixels), and bad input is refused with clear errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import traitlets
from hypothesis import given, settings
from hypothesis import strategies as st

import xai_widgets as xw
from xai_widgets.concepts import decile_examples
from xai_widgets.widgets.concept_explorer_picture import COMBINATION, SINGLE, TRUTH

from test_net2vec import planted_data, planted_model
from toy_models import assert_untouched, snapshot

N_IMAGES = 120


@pytest.fixture(scope="module")
def setup():
    x, concepts = planted_data()
    x, concepts = x[:N_IMAGES], {k: v[:N_IMAGES] for k, v in concepts.items()}
    model = planted_model()
    before = snapshot(model)
    w = xw.ConceptExplorer(model, "0", x, concepts, epochs=40, categories={"a": "planted", "b": "planted"})
    assert_untouched(model, before)
    return model, x, concepts, w


def numpy_binary(model, x, thresholds) -> np.ndarray:
    acts = model(x).detach().numpy()  # N x C x S x S: the layer is the masks' resolution
    return acts > thresholds[None, :, None, None]


def test_the_decile_examples_are_the_held_out_images_at_those_quantiles_of_per_image_iou(setup):
    model, x, concepts, w = setup
    emb = w.embeddings
    binary = numpy_binary(model, x, emb.thresholds)
    for name in ("a", "b", "left"):
        q = emb.names.index(name)
        # per-image IoU of the combination, recomputed from the planted maps (no upsampling here)
        pred = np.einsum("c,nchw->nhw", emb.weights[q], binary[emb.test].astype(np.float32)) > 0
        m = concepts[name][emb.test]
        inter, union = (pred & m).sum((1, 2)), (pred | m).sum((1, 2))
        iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
        np.testing.assert_allclose(iou, emb.image_iou[q], equal_nan=True)
        finite = np.flatnonzero(np.isfinite(iou))
        ranked = finite[np.argsort(iou[finite], kind="stable")]
        ranks = [int((j + 0.5) * len(ranked) / 10) for j in range(10)]  # the middle of each decile
        expected = emb.test[ranked[ranks]]
        w.concept = q
        np.testing.assert_array_equal(w.examples(), expected)
        np.testing.assert_array_equal(w.examples(name), expected)
        np.testing.assert_allclose(w.data.iou[q], iou[ranked[ranks]])
        assert np.all(np.diff(w.data.iou[q]) >= 0)  # lowest IoU first
        k = emb.single[q][0]
        one = binary[expected, k]
        mm = concepts[name][expected]
        np.testing.assert_allclose(w.data.single_iou[q], (one & mm).sum((1, 2)) / np.maximum((one | mm).sum((1, 2)), 1))
        shipped = [e["index"] for e in w._data["examples"][q]]
        assert shipped == expected.tolist()


def test_the_probe_helpers_reproduce_net2vecs_scores(setup):
    """concept_logits and filter_masks on the recorded held-out split give back net2vec's own set
    IoU of every combination and of every best single filter."""
    model, x, concepts, w = setup
    emb = w.embeddings
    acts = model(x[emb.test]).detach()
    pred = xw.concepts.concept_logits(emb, acts, (32, 32)).numpy() > 0
    for q, name in enumerate(emb.names):
        m = concepts[name][emb.test]
        assert emb.iou[q] == pytest.approx((pred[:, q] & m).sum() / (pred[:, q] | m).sum())
        k, single = emb.single[q]
        one = xw.concepts.filter_masks(emb, acts, [k], (32, 32))[:, 0].numpy()
        assert single == pytest.approx((one & m).sum() / (one | m).sum())
    with pytest.raises(ValueError, match="N x 6 x h x w"):
        xw.concepts.concept_logits(emb, acts[:, :3], (32, 32))


def test_decile_examples_by_hand():
    v = [0.5, np.nan, 0.1, 0.9, 0.3]  # finite sorted: 0.1 (2), 0.3 (4), 0.5 (0), 0.9 (3)
    assert decile_examples(v, 4).tolist() == [2, 4, 0, 3]
    assert decile_examples(v, 2).tolist() == [4, 3]  # ranks floor(0.5 * 4 / 2) = 1, floor(1.5 * 4 / 2) = 3
    assert decile_examples([np.nan], 10).tolist() == []


def test_the_bars_are_the_weights_sorted_largest_first(setup):
    _, _, _, w = setup
    order = np.asarray(w._data["order"])
    shipped = xw.wire.decode(w._data["weights"])
    np.testing.assert_array_equal(shipped, w.embeddings.weights)
    for q, row in enumerate(order):
        assert sorted(row.tolist()) == list(range(shipped.shape[1]))
        assert np.all(np.diff(shipped[q][row]) <= 0)
    w.concept = w.embeddings.names.index("b")
    assert set(w.order()[:2].tolist()) == {1, 2}  # the planted halves of "b" carry the largest weights


def test_the_neighbours_are_the_numpy_cosines(setup):
    _, _, _, w = setup
    W = w.embeddings.weights.astype(np.float64)
    unit = W / np.linalg.norm(W, axis=1, keepdims=True)
    cos = unit @ unit.T
    names = w.embeddings.names
    for q, shipped in enumerate(w._data["nearest"]):
        others = [j for j in np.argsort(-cos[q], kind="stable") if j != q][:len(shipped)]
        assert [n for n, _ in shipped] == [names[j] for j in others]
        np.testing.assert_allclose([s for _, s in shipped], cos[q, others], atol=1e-6)
    assert w._data["nearest"][names.index("a")][0][0] == "a_copy"


def test_the_arithmetic_box_answers_with_embeddings_arithmetic(setup):
    _, _, _, w = setup
    w.expression = "left + right"
    assert w._arithmetic["results"] == [[n, s] for n, s in w.embeddings.arithmetic("left + right", 5)]
    assert w._arithmetic["results"][0][0] == "b" and w._arithmetic["error"] == ""
    w.expression = "left + nope"
    assert w._arithmetic["results"] == [] and "unknown concept 'nope'" in w._arithmetic["error"]
    w.expression = ""
    assert w._arithmetic == {}


def test_the_strips_draw_the_masks_the_probe_predicts(setup):
    model, x, concepts, w = setup
    emb = w.embeddings
    q = emb.names.index("b")
    w.concept, w.opacity, w.threshold = q, 1.0, 0.5
    examples = w.examples()
    binary = numpy_binary(model, x[examples], emb.thresholds)
    pred = np.einsum("c,nchw->nhw", emb.weights[q], binary.astype(np.float32)) > 0
    truth = concepts["b"][examples]
    images = (x[examples].permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    for s, (comb, one) in enumerate(zip(w.example_pixels("combination"), w.example_pixels("single"))):
        edge = truth[s] & ~(np.pad(truth[s], 1)[:-2, 1:-1] & np.pad(truth[s], 1)[2:, 1:-1]
                            & np.pad(truth[s], 1)[1:-1, :-2] & np.pad(truth[s], 1)[1:-1, 2:])
        np.testing.assert_array_equal(comb[edge], np.broadcast_to(TRUTH, comb[edge].shape))
        inside, outside = pred[s] & ~edge, ~pred[s] & ~edge
        np.testing.assert_array_equal(comb[inside], np.broadcast_to(COMBINATION, comb[inside].shape))
        np.testing.assert_array_equal(comb[outside], images[s][outside])
        k_on = binary[s, emb.single[q][0]] & ~edge
        np.testing.assert_array_equal(one[k_on], np.broadcast_to(SINGLE, one[k_on].shape))
    w.threshold = 0.99  # a stricter threshold never adds pixels
    assert sum((p == COMBINATION).all(-1).sum() for p in w.example_pixels("combination")) <= \
        sum(int((pred[s] & ~truth[s]).sum() + truth[s].sum()) for s in range(len(examples)))
    w.opacity, w.threshold = 0.5, 0.5


def test_a_channel_shows_its_activations_on_the_examples(setup):
    model, x, _, w = setup
    w.concept, w.channel, w.opacity = 0, 3, 1.0
    acts = model(x[w.examples()]).detach().numpy()[:, 3]
    idx = np.floor(np.clip(acts, 0, None) / w.data.act_max[3] * 255 + 0.5).astype(int)
    lut = xw.colormaps.lut("viridis")
    for s, px in enumerate(w.example_pixels("channel")):
        np.testing.assert_array_equal(px, lut[np.clip(idx[s], 0, 255)])
    w.channel, w.opacity = -1, 0.5
    with pytest.raises(ValueError, match="channel"):
        w.example_pixels("channel")


def test_precomputed_embeddings_are_shown_without_probing_again(setup):
    model, x, concepts, w = setup
    w2 = xw.ConceptExplorer(model, "0", x, concepts, embeddings=w.embeddings)
    assert w2.embeddings is w.embeddings
    assert w2._data["order"] == w._data["order"] and w2._data["examples"] == w._data["examples"]


def test_figures_and_exports(setup, tmp_path):
    _, _, _, w = setup
    w.expression = "a + b"
    img = w.render_png(scale=1)
    assert img.size[0] > 400 and len(img.getcolors(1 << 20) or []) > 20
    assert w.render_png(scale=2).size[0] > 1.5 * img.size[0]
    assert w.to_html(tmp_path / "c.html").stat().st_size > 10_000
    assert "ConceptExplorer(5 concepts at '0'" in repr(w)


def test_bad_input_is_refused_with_clear_errors(setup):
    model, x, concepts, w = setup
    with pytest.raises(TypeError, match="torch.nn.Module"):
        xw.ConceptExplorer("model", "0", x, concepts)
    with pytest.raises(ValueError, match="ConceptSet or a non-empty dict"):
        xw.ConceptExplorer(model, "0", x, {})
    with pytest.raises(ValueError, match="expected 120 x H x W"):
        xw.ConceptExplorer(model, "0", x, {"a": concepts["a"][:7]}, epochs=1)
    with pytest.raises(ValueError, match="learned at layer '0', not '1'"):
        xw.ConceptExplorer(model, "1", x, concepts, embeddings=w.embeddings)
    with pytest.raises(TypeError, match="ConceptEmbeddings"):
        xw.ConceptExplorer(model, "0", x, concepts, embeddings={"a": 1})
    cls = xw.concepts.net2vec(model, "0", x, {"a": concepts["a"]}, task="classification", optimizer="adam", epochs=2)
    with pytest.raises(ValueError, match="task='segmentation'"):
        xw.ConceptExplorer(model, "0", x, concepts, embeddings=cls)
    with pytest.raises(ValueError, match="max_bytes"):
        xw.ConceptExplorer(model, "0", x, concepts, embeddings=w.embeddings, max_bytes=1000)
    with pytest.raises(ValueError, match="unknown concept 'z'"):
        w.examples("z")
    for trait, bad in (("concept", 5), ("concept", True), ("channel", -2), ("channel", 6), ("threshold", 1.0),
                       ("opacity", float("nan")), ("expression", "a" * 201)):
        before = getattr(w, trait)
        with pytest.raises(traitlets.TraitError):
            setattr(w, trait, bad)
        assert getattr(w, trait) == before
        w.set_state({trait: bad})  # from the browser: refused, explained, never raised
        assert getattr(w, trait) == before and trait in w.message


BROWSER_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 8), st.integers(),
                           st.sampled_from([math.nan, math.inf, -1.0, 0.0, 0.005, 0.5, 0.99, 1.0, 2.5]),
                           st.text(max_size=12), st.sampled_from(["a + b", "left + right - a", "a +", "-b"]),
                           st.lists(st.integers(-1, 3), max_size=2))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["concept", "channel", "threshold", "opacity", "expression", "size",
                                           "_data"]), BROWSER_VALUES), min_size=1, max_size=4))
def test_random_browser_messages_leave_a_valid_view(setup, actions):
    model, _, _, w = setup
    before = snapshot(model)
    for key, value in actions:
        w.set_state({key: value})  # never raises
    Q, C = w.embeddings.weights.shape
    assert 0 <= w.concept < Q and -1 <= w.channel < C
    assert 0.01 <= w.threshold <= 0.99 and 0 <= w.opacity <= 1
    assert w._arithmetic == {} or set(w._arithmetic) == {"expression", "results", "error"}
    assert w.render_png().size[0] > 0
    assert_untouched(model, before)
