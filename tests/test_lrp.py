"""LRP (xai_widgets.attribution.lrp, via zennit) against the book's identities and a hand-merged reference."""
from __future__ import annotations

import copy
import sys

import pytest
import torch
from torch import nn

import zennit  # noqa: F401,E402  (the [lrp] extra: installed by scripts/install.sh, so a missing one fails)

import xai_widgets as xw  # noqa: E402
from xai_widgets import attribution as A  # noqa: E402
from xai_widgets import lrp as L  # noqa: E402
from float_bounds import EPS32  # noqa: E402
from toy_models import assert_untouched, shapes_batch, snapshot  # noqa: E402

# Forward passes of a BN-folded copy against the original round differently (other weights,
# other sums); they are compared in float64, where four conv layers of a few hundred terms
# each leave ~1e-14 on these logits (<= 40): 1e-9 is safe, and far below the O(1) change of a
# wrong fold.
FOLD_ATOL_F64 = 1e-9

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes():
    return xw.demo.shapes_model(), shapes_batch(4, seed=3)


class BiasFreeNet(nn.Module):
    """conv / linear without bias, ReLU, max pooling: f(0) = 0 and f is positively homogeneous."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1, bias=False)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(32, 16, bias=False)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(16, 4, bias=False)

    def forward(self, x):
        h = self.pool1(self.relu1(self.conv1(x)))
        h = self.pool2(self.relu2(self.conv2(h)))
        return self.fc2(self.relu3(self.fc1(h.flatten(1))))


@pytest.fixture
def bias_free():
    torch.manual_seed(1)
    model = BiasFreeNet().eval()
    x = torch.rand(3, 3, 12, 12)
    return model, x


def hooks_left(model):
    return [(name, attr) for name, m in model.named_modules()
            for attr in ("_forward_hooks", "_backward_hooks", "_forward_pre_hooks")
            if getattr(m, attr)]


def target_logits(model, x, t=None):
    with torch.no_grad():
        out = model(x)
    t = out.argmax(1) if t is None else t
    return out.gather(1, t[:, None])[:, 0]


# ------------------------------------------------------------------ book identities

def test_epsilon_lrp_equals_grad_x_input_on_bias_free_relu_net(bias_free):
    model, x = bias_free
    gxi = A.grad_x_input(model, x)
    for comp, eps in (("epsilon", 1e-9), ("zero", 0.25)):
        r = L.lrp(model, x, composite=comp, epsilon=eps)
        assert r.shape == x.shape
        rel = float((r - gxi).abs().max() / gxi.abs().max())
        assert rel < 1e-4, (comp, rel)
    # a large epsilon absorbs relevance: no longer gradient x input
    r = L.lrp(model, x, composite="epsilon", epsilon=1.0)
    assert float((r - gxi).abs().max() / gxi.abs().max()) > 1e-2


def test_conservation_bias_free(bias_free):
    model, x = bias_free
    logit = target_logits(model, x)
    for comp in ("zero", "epsilon", "alpha1beta0"):
        r = L.lrp(model, x, composite=comp, epsilon=1e-9)
        # not rounding: zennit's stabiliser leaks ~1e-6 (alpha1beta0), the same in float64
        assert torch.allclose(r.flatten(1).sum(1), logit, rtol=1e-4, atol=1e-6), comp


def test_gamma_to_infinity_is_alpha1beta0(bias_free):
    # Montavon et al. 2019 (ch. 10 of "Explainable AI", LNAI 11700, §10.2.1): LRP-gamma with
    # gamma -> infinity equals LRP-alpha1beta0 (z+) on positive inputs
    model, x = bias_free
    big = L.lrp(model, x, composite="gamma", gamma=1e6)
    ab = L.lrp(model, x, composite="alpha1beta0")
    assert float((big - ab).abs().max() / ab.abs().max()) < 1e-3


def test_book_composite_conservation_on_shapes(shapes):
    """What we check: on ShapesNet (BN canonised, so every conv has a bias), with biases left
    out of the rules' denominators (bias=False) and ε -> 0, the book composite
    (z^B, γ, LRP-0) conserves relevance: |sum R - logit| <= 2 % of the logit. The 2 % is
    zennit's generalised γ rule, which picks the positive / negative branch by the sign of
    the full pre-activation (bias included); z^B and LRP-0 alone conserve to 0.2 %.
    With the default bias=True, biases absorb their share (the book's "trapped" relevance)
    and the sum is only roughly the logit."""
    model, x = shapes
    logit = target_logits(model, x)
    book = L.lrp(model, x, composite="book", epsilon=1e-9, bias=False).flatten(1).sum(1)
    assert ((book - logit).abs() <= 0.02 * logit.abs()).all(), (book, logit)
    for comp in ("zero", "alpha1beta0"):
        s = L.lrp(model, x, composite=comp, bias=False).flatten(1).sum(1)
        assert ((s - logit).abs() <= 2e-3 * logit.abs()).all(), (comp, s, logit)
    default = L.lrp(model, x).flatten(1).sum(1)
    assert not torch.allclose(default, logit, rtol=1e-3)  # biases do absorb relevance


def merge_bn_by_hand(model):
    """Our own BN fold: w' = w·γ/√(var+eps), b' = β − μ·γ/√(var+eps) (conv has no bias)."""
    merged = copy.deepcopy(model)
    for i in range(1, 5):
        conv, bn = getattr(merged, f"conv{i}"), getattr(merged, f"bn{i}")
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding,
                        bias=True).to(conv.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(conv.weight * scale[:, None, None, None])
            new.bias.copy_(bn.bias - bn.running_mean * scale)
        setattr(merged, f"conv{i}", new)
        setattr(merged, f"bn{i}", nn.Identity())
    return merged.eval()


@pytest.mark.parametrize("composite", ["book", "epsilon", "alpha2beta1"])
def test_canonisation_equals_hand_merged_model(shapes, composite):
    model, x = shapes
    snap = snapshot(model)
    merged = merge_bn_by_hand(model)
    m64, x64 = copy.deepcopy(model).double(), x.double()
    with torch.no_grad():
        torch.testing.assert_close(merge_bn_by_hand(m64)(x64), m64(x64), atol=FOLD_ATOL_F64, rtol=0)
    got = L.lrp(model, x, target=[0, 1, 2, 3], composite=composite)
    ref = L.lrp(merged, x, target=[0, 1, 2, 3], composite=composite, canonize=False)
    assert float((got - ref).abs().max() / ref.abs().max()) < 1e-4
    # without canonisation BN only passes relevance: a different answer
    raw = L.lrp(model, x, target=[0, 1, 2, 3], composite=composite, canonize=False)
    assert float((raw - ref).abs().max() / ref.abs().max()) > 1e-2
    assert_untouched(model, snap)
    assert model.conv1.bias is None and not hooks_left(model)


def test_contrastive_lrp_is_difference(shapes):
    model, x = shapes
    # float64: the backward passes of a score difference and of two scores round differently;
    # lrp returns float32, so both sides are float64 results rounded once, and a - b rounds
    # once more: within 4 eps * max(|a| + |b|)
    m64, x64 = copy.deepcopy(model).double(), x.double()
    both = L.lrp(m64, x64, target=1, contrast=[2, 0, 0, 4])
    a = L.lrp(m64, x64, target=1)
    b = L.lrp(m64, x64, target=[2, 0, 0, 4])
    torch.testing.assert_close(both, a - b, atol=4 * EPS32 * float((a.abs() + b.abs()).max()), rtol=0)
    both = L.lrp(model, x, target=1, contrast=[2, 0, 0, 4])
    res = A.attribute(model, x, "lrp", target=1, contrast=[2, 0, 0, 4], composite="book")
    assert torch.allclose(res.maps, A.pixel_map(both), atol=1e-5)


def test_relevance_read_at_first_layer_input(shapes):
    # ShapesNet normalises inside forward; relevance must not be scaled by 1/std: with
    # LRP-0 everywhere and no biases in the denominators, the sum is the logit, not 5x it.
    model, x = shapes
    s = L.lrp(model, x, composite="zero", bias=False).flatten(1).sum(1)
    assert torch.allclose(s, target_logits(model, x), rtol=2e-3)


# ------------------------------------------------------------------ rules per layer

def test_book_plan_and_overrides(shapes):
    model, x = shapes
    assert L.layer_rules(model, x) == {"conv1": "zbox", "conv2": "gamma", "conv3": "epsilon",
                                       "conv4": "epsilon", "fc": "zero"}
    plan = L.layer_rules(model, x, overrides={"conv3": "gamma"})
    assert plan["conv3"] == "gamma"
    base = L.lrp(model, x)
    over = L.lrp(model, x, layer_rules={"conv3": "gamma"})
    assert not torch.allclose(base, over)
    import zennit.rules
    obj = L.lrp(model, x, layer_rules={"conv3": zennit.rules.Gamma(gamma=0.25)})
    assert torch.allclose(obj, over, atol=1e-6)
    with pytest.raises(ValueError, match="did you mean 'conv3'"):
        L.lrp(model, x, layer_rules={"conv33": "gamma"})
    with pytest.raises(ValueError, match="unknown LRP rule"):
        L.lrp(model, x, layer_rules={"conv3": "omega"})
    with pytest.raises(ValueError, match="unknown LRP composite"):
        L.lrp(model, x, composite="fancy")
    with pytest.raises(TypeError, match="unknown option"):
        A.attribute(model, x, "lrp", colour="red")


def test_zbox_box_default_and_explicit(shapes):
    model, x = shapes
    # default box = per-channel min / max of conv1's (normalised) input over the batch
    norm = (x - model.mean) / model.std
    low = norm.amin(dim=(0, 2, 3), keepdim=True)
    high = norm.amax(dim=(0, 2, 3), keepdim=True)
    assert torch.allclose(L.lrp(model, x), L.lrp(model, x, low=low, high=high), atol=1e-6)
    wide = L.lrp(model, x, low=-2.5, high=2.5)
    assert not torch.allclose(wide, L.lrp(model, x), atol=1e-4)
    with pytest.raises(ValueError, match="low must be <= high"):
        L.lrp(model, x, low=1.0, high=-1.0)


# ------------------------------------------------------------------ hygiene, resnet, errors

class BNRaises(nn.Module):
    """conv -> bn (canonised by zennit); raises in forward once its batch norm has been merged
    into the conv (zennit then sets it to the identity), i.e. inside the canonised context."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        if bool((self.bn.running_mean == 0).all()):
            raise RuntimeError("boom")
        h = self.relu(self.bn(self.conv(x)))
        return self.fc(h.mean((2, 3)))


def state(model):
    """What LRP must leave as it found it: our own record, independent of the code under test."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "objects": [(n, id(t)) for n, t in [*model.named_parameters(), *model.named_buffers()]],
        "modules": [(n, id(m)) for n, m in model.named_modules()],
        "attrs": {n: sorted(vars(m)) for n, m in model.named_modules()},
        "training": {n: m.training for n, m in model.named_modules()},
        "requires_grad": {n: p.requires_grad for n, p in model.named_parameters()},
    }


def assert_as_given(model, before):
    after = state(model)
    for key in ("objects", "modules", "attrs", "training", "requires_grad"):
        assert after[key] == before[key], key
    assert after["state"].keys() == before["state"].keys()
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), f"{k} changed"
    for name, m in model.named_modules():
        for attr, hooks in vars(m).items():
            assert not ("hooks" in attr and isinstance(hooks, dict) and hooks), f"{attr} left on {name or 'root'}"
    assert all(p.grad is None for p in model.parameters())


def test_hygiene_when_model_raises_inside_canonised_context():
    torch.manual_seed(0)
    model = BNRaises()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    model.train()
    before = state(model)
    with pytest.raises(RuntimeError, match="LRP failed part-way.*boom.*restored") as info:
        L.lrp(model, torch.rand(2, 3, 8, 8))
    assert isinstance(info.value.__cause__, RuntimeError) and str(info.value.__cause__) == "boom"
    assert_as_given(model, before)


def _fail_on_call(monkeypatch, owner, attr, k, *, wrap=True):
    """Replace ``owner.attr`` by one that runs the original, then raises on its k-th call."""
    original = getattr(owner, attr)
    calls = []

    def failing(*args, **kwargs):
        out = original(*args, **kwargs) if wrap else None
        calls.append(1)
        if len(calls) == k:
            raise RuntimeError("provoked")
        return out

    monkeypatch.setattr(owner, attr, staticmethod(failing) if isinstance(owner.__dict__.get(attr), staticmethod)
                        else failing)
    return calls


def _resnet():
    import torchvision as tv
    torch.manual_seed(0)
    return tv.models.resnet18(weights=None, num_classes=4).eval(), torch.rand(2, 3, 32, 32)


@pytest.mark.parametrize("where", ["merge", "attribute", "hooks", "backward"])
def test_failure_part_way_leaves_model_as_given(monkeypatch, shapes, where):
    """A failure provoked at each stage after zennit has started changing the model: batch-norm
    merge (after two merges, with a bias parameter added to each bias-free conv), the ResNet
    block canonizer (after some blocks got an instance forward and a Sum module), hook
    registration, and the backward pass."""
    import zennit.canonizers
    import zennit.core
    model, x = _resnet() if where == "attribute" else shapes
    model.train()
    model.fc.weight.requires_grad_(False)
    try:
        with torch.no_grad():
            ref = model.eval()(x)
        model.train()
        expected = L.lrp(model, x)
        before = state(model)
        if where == "merge":
            calls = _fail_on_call(monkeypatch, zennit.canonizers.MergeBatchNorm, "merge_batch_norm", 3)
        elif where == "attribute":
            calls = _fail_on_call(monkeypatch, zennit.canonizers.AttributeCanonizer, "register", 3)
        elif where == "hooks":
            calls = _fail_on_call(monkeypatch, zennit.core.Hook, "register", 4)
        else:
            calls = _fail_on_call(monkeypatch, zennit.core.BasicHook, "backward", 2, wrap=False)
        with pytest.raises(RuntimeError) as info:
            L.lrp(model, x)
        assert len(calls) >= 2  # the failure did come part-way
        msg = str(info.value)
        assert "LRP failed part-way" in msg and "provoked" in msg and "restored exactly" in msg
        assert "LRP here supports CNNs" in msg and "Grad-CAM" in msg
        assert str(info.value.__cause__) == "provoked"
        assert_as_given(model, before)
        monkeypatch.undo()
        with torch.no_grad():
            assert torch.equal(model.eval()(x), ref)
        model.train()
        assert torch.equal(L.lrp(model, x), expected)  # and LRP still works on it
    finally:
        model.fc.weight.requires_grad_(True)
        model.eval()


def test_provoked_failure_does_corrupt_without_the_rollback(monkeypatch, shapes):
    """The provocation above is real: with the rollback switched off the model is left broken."""
    import contextlib
    import zennit.canonizers
    model = copy.deepcopy(shapes[0])
    x = shapes[1]
    before = state(model)
    _fail_on_call(monkeypatch, zennit.canonizers.MergeBatchNorm, "merge_batch_norm", 3)
    monkeypatch.setattr(L, "rollback_on_error", contextlib.nullcontext)
    with pytest.raises(RuntimeError):
        L.lrp(model, x)
    with pytest.raises(AssertionError):
        assert_as_given(model, before)
    assert model.conv1.bias is not None  # zennit added it and nothing took it away


def test_hygiene_inputs_and_flags(shapes):
    model, x = shapes
    model.train()
    model.fc.weight.requires_grad_(False)
    try:
        snap = snapshot(model)
        xi = x.clone().requires_grad_(True)
        with torch.no_grad():
            L.lrp(model, xi, composite="book")
        assert_untouched(model, snap)
        assert torch.equal(xi.detach(), x) and xi.grad is None
        assert not hooks_left(model)
    finally:
        model.fc.weight.requires_grad_(True)
        model.eval()


def test_torchvision_resnet_canonizer():
    import torchvision as tv
    torch.manual_seed(0)
    model = tv.models.resnet18(weights=None, num_classes=4).eval()
    with torch.no_grad():  # non-trivial BN statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    snap = snapshot(model)
    names = [n for n, _ in model.named_modules()]
    x = torch.rand(1, 3, 32, 32)
    r = L.lrp(model, x, composite="epsilon", epsilon=1e-6)
    assert r.shape == x.shape and torch.isfinite(r).all()
    assert_untouched(model, snap)
    assert [n for n, _ in model.named_modules()] == names and not hooks_left(model)


# ------------------------------------------------------------------ architectures

def _nontrivial_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def _tv(name, **kw):
    import torchvision as tv
    torch.manual_seed(0)
    return _nontrivial_bn(getattr(tv.models, name)(weights=None, **kw))


def _small_densenet():
    """torchvision's DenseNet class (same forward, same blocks) at a size the tests can afford."""
    import torchvision as tv
    torch.manual_seed(0)
    return _nontrivial_bn(tv.models.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8,
                                             bn_size=2, num_classes=5))


def test_zennit_sequential_merge_corrupts_densenet_and_the_rollback_restores_it():
    """Why the rollback exists: zennit's module-order batch-norm merge pairs a dense layer's
    conv2 with the next layer's norm1 (which sees the concatenation) and raises part-way."""
    import zennit.canonizers
    from xai_widgets.core.hygiene import rollback_on_error
    model = _small_densenet()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
    before = state(model)
    broken = copy.deepcopy(model)
    with pytest.raises(RuntimeError, match="size of tensor"):
        zennit.canonizers.SequentialMergeBatchNorm().apply(broken)
    assert len(list(broken.parameters())) > len(list(model.parameters()))  # bias parameters added
    with pytest.raises(RuntimeError, match="size of tensor"):
        with rollback_on_error(model):
            zennit.canonizers.SequentialMergeBatchNorm().apply(model)
    assert_as_given(model, before)
    with torch.no_grad():
        assert torch.equal(model(x), ref)


def test_densenet121_works_and_is_untouched():
    model = _tv("densenet121")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model(x)
    before = state(model)
    r = L.lrp(model, x)
    assert r.shape == x.shape and torch.isfinite(r).all() and r.abs().sum() > 0
    assert_as_given(model, before)
    with torch.no_grad():
        assert torch.equal(model(x), ref)


def merge_densenet_bn_by_hand(model):
    """Our own fold of each batch norm that directly follows a conv (conv0 -> norm0, and
    conv1 -> norm2 in every dense layer); the others come after a concatenation and stay."""
    merged = copy.deepcopy(model)
    pairs = [(merged.features, "conv0", "norm0")]
    pairs += [(layer, "conv1", "norm2") for name, layer in merged.features.named_modules()
              if name.split(".")[-1].startswith("denselayer")]
    assert len(pairs) == 5
    for parent, conv_name, bn_name in pairs:
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                        padding=conv.padding, bias=True).to(conv.weight.dtype)
        with torch.no_grad():
            new.weight.copy_(conv.weight * scale[:, None, None, None])
            new.bias.copy_(bn.bias - bn.running_mean * scale)
        setattr(parent, conv_name, new)
        setattr(parent, bn_name, nn.Identity())
    return merged.eval()


@pytest.mark.parametrize("composite", ["book", "epsilon", "alpha2beta1"])
def test_densenet_canonisation_equals_hand_merged_model(composite):
    model = _small_densenet()
    x = torch.rand(2, 3, 32, 32)
    merged = merge_densenet_bn_by_hand(model)
    m64, x64 = copy.deepcopy(model).double(), x.double()
    with torch.no_grad():
        torch.testing.assert_close(merge_densenet_bn_by_hand(m64)(x64), m64(x64), atol=FOLD_ATOL_F64, rtol=0)
    got = L.lrp(model, x, target=[0, 3], composite=composite)
    ref = L.lrp(merged, x, target=[0, 3], composite=composite, canonize=False)
    assert float((got - ref).abs().max() / ref.abs().max()) < 1e-5
    raw = L.lrp(model, x, target=[0, 3], composite=composite, canonize=False)  # BN passing only: different
    assert float((raw - ref).abs().max() / ref.abs().max()) > 1e-2


@pytest.mark.parametrize("name", ["densenet", "resnet18", "googlenet"])
def test_supported_torchvision_models_conserve_relevance(name):
    """z+ with biases out of the denominators conserves exactly on a ReLU CNN: sum R = logit.
    Relevance crossing a residual sum as a gradient, or DenseNet's functional pooling head,
    would miss this by 10 % or more."""
    if name == "densenet":
        model, x = _small_densenet(), torch.rand(2, 3, 32, 32)
    elif name == "googlenet":
        model, x = _tv("googlenet", aux_logits=False, init_weights=True), torch.rand(1, 3, 64, 64)
    else:
        model, x = _tv(name, num_classes=4), torch.rand(2, 3, 32, 32)
    logit = target_logits(model, x)
    s = L.lrp(model, x, composite="alpha1beta0", bias=False).flatten(1).sum(1)
    assert ((s - logit).abs() <= 1e-3 * logit.abs()).all(), (s, logit)
    L.check_supported(model, x)


@pytest.mark.parametrize("name,kw,feature,where", [
    ("vit_b_16", {"image_size": 64}, "attention layers", "MultiheadAttention at encoder.layers.encoder_layer_0.self_attention"),
    ("swin_t", {}, "attention layers", "ShiftedWindowAttention at features.1.0.attn"),
    ("convnext_tiny", {}, "layer / group / instance normalisation", "in features.0.1 (LayerNorm2d)"),
    ("mobilenet_v3_small", {}, "multiplicative gating", "in features.1.block.1 (SqueezeExcitation)"),
    ("efficientnet_b0", {}, "multiplicative gating", "in features.1.0.block.1 (SqueezeExcitation)"),
])
def test_unsupported_architectures_are_refused_up_front(monkeypatch, name, kw, feature, where):
    import zennit.core
    model = _tv(name, **kw)
    x = torch.rand(1, 3, 64, 64)
    before = state(model)
    registered = []
    monkeypatch.setattr(zennit.core.Composite, "register", lambda *a: registered.append(a))
    with pytest.raises(ValueError) as info:
        L.lrp(model, x)
    msg = str(info.value)
    assert msg.startswith(f"LRP does not support {feature}") and where in msg, msg
    assert "LRP here supports CNNs" in msg and "for transformers" in msg and "Grad-CAM" in msg
    assert not registered  # refused before zennit touched the model
    assert_as_given(model, before)
    with pytest.raises(ValueError, match=feature):
        L.check_supported(model, x)
    if name == "mobilenet_v3_small":  # the attribution front door says the same
        with pytest.raises(ValueError, match=feature):
            A.attribute(model, x, "lrp")


def test_residual_addition_in_a_custom_block_is_refused(shared_net):
    with pytest.raises(ValueError, match=r"residual additions \(torch add in the model's own forward\)"):
        L.lrp(shared_net.eval(), torch.rand(1, 3, 8, 8))


def test_layers_called_twice_are_refused():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(self.conv(self.conv(x)).mean((2, 3)))

    with pytest.raises(ValueError, match="more than once"):
        L.lrp(Twice(), torch.rand(1, 3, 8, 8))


def test_missing_zennit_message(monkeypatch, shapes):
    model, x = shapes
    for name in [m for m in sys.modules if m == "zennit" or m.startswith("zennit.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "zennit", None)
    with pytest.raises(ImportError, match=r'pip install "xai_widgets\[lrp\]"'):
        L.lrp(model, x)
    with pytest.raises(ImportError, match="xai_widgets"):
        A.attribute(model, x, "lrp")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lrp_cuda(shapes, exact_float32):
    model, x = shapes
    ref = L.lrp(model, x)
    gpu = copy.deepcopy(model).cuda()
    snap = snapshot(gpu)
    r = L.lrp(gpu, x)
    assert r.device.type == "cuda"
    assert torch.allclose(r.cpu(), ref, atol=1e-4 * float(ref.abs().max()))
    assert_untouched(gpu, snap)
