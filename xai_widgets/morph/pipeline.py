"""One call from an image to its path-mask explanation.

:func:`explain` runs the pipeline of the source thesis (see :mod:`xai_widgets.morph.latent`)
for one image:

1. classify it: self-label s = the top class, other-label o = the second most probable class,
   or ``target`` (our extension: any class), or, in misclassification mode (``true_label`` given
   and different from the prediction; as in the source thesis), the true label;
2. best-of-K reconstruction code c_self (:func:`~xai_widgets.morph.latent.reconstruct`);
3. Semantic Morphing c_self -> c_other (:func:`~xai_widgets.morph.semantic.semantic_morph`);
   when it fails the pipeline stops there and says so (``on_failure="continue"`` goes on);
4. the radial latent path from c_other to c_self, decoded in one batch (x_1 = other,
   x_n = self; :mod:`~xai_widgets.morph.paths`);
5. per-frame class probabilities, two-class entropy of (s, o), the entropy window and the
   gradients d p_s / d x_i of every frame (full softmax, as in the source thesis), in one batch;
6. the path mask (:func:`~xai_widgets.morph.pathmask.path_mask`).

Model hygiene as in :mod:`xai_widgets.morph.latent`.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.capture import preserved_model, model_device
from ..core.tasks import check
from .latent import (NormTable, Preprocess, Reconstruction, image_batch, classifier_logits, preserved_models, as_vae,
                     reconstruct)
from .pathmask import PathMaskResult, path_mask
from .paths import KINDS, PathDiagnostics, alphas, decode_path, latent_path, path_diagnostics
from .semantic import EntropyWindow, MorphHistory, entropy_window, semantic_morph, two_class_entropy

__all__ = ["MorphResult", "explain"]


@dataclass
class MorphResult:
    """Everything the PathMorph widget shows for one image.

    CPU tensors; None where a stage did not run because Semantic Morphing failed.

    ``image`` (C x H x W): the original; ``s``, ``o``: self and other class; ``mode``:
    ``"second"`` (o = second most probable), ``"target"`` (o chosen) or ``"misclassified"``
    (s = the wrong prediction, o = ``true_label``); ``logits``/``probs`` (K): of the original;
    ``reconstruction`` (:class:`Reconstruction`, batch of 1) and ``morph``
    (:class:`MorphHistory`, batch of 1: the optimisation to replay); ``success``: the morph
    reached o. Path (n frames, x_1 = other ... x_n = self): ``frames`` (n x C x H x W),
    ``codes`` (n x d), ``alpha`` (n), ``frame_logits``/``frame_probs`` (n x K),
    ``frame_entropy`` (n, two-class entropy of (s, o) in bits), ``window``
    (:class:`EntropyWindow`), ``gradients`` (n x C x H x W, d p_s / d x_i, or None),
    ``diagnostics`` (:class:`PathDiagnostics`: norms along the path), ``norms``
    (:class:`NormTable` or None) and ``bands`` ({class: (mean, std)} of s and o, or None);
    ``mask`` (:class:`PathMaskResult`). ``warnings``: human-readable problems (reconstruction
    changed label, morph failed, no norm table); ``settings``: every parameter used.

    Attributes
    ----------
    image : torch.Tensor
        C x H x W original image.
    s : int
        The self class s (the classifier's prediction).
    o : int
        The other class o (morphed towards).
    mode : str
        "second", "target" or "misclassified".
    true_label : int or None
        The true label given, if any.
    logits, probs : torch.Tensor
        K logits and probabilities of the original.
    reconstruction : Reconstruction
        Best-of-K reconstruction (batch of 1).
    morph : MorphHistory
        Semantic Morphing (batch of 1).
    success : bool
        Whether the morph reached o.
    frames, codes, alpha : torch.Tensor or None
        n x C x H x W frames, n x d codes and n alphas of the path.
    frame_logits, frame_probs : torch.Tensor or None
        n x K.
    frame_entropy : torch.Tensor or None
        n two-class entropies in bits.
    window : EntropyWindow or None
        The entropy window.
    gradients : torch.Tensor or None
        n x C x H x W gradients d p_s / d x_i.
    diagnostics : PathDiagnostics or None
        Norms along the path.
    norms : NormTable or None
        The class-norm prior used.
    bands : dict or None
        ``{class: (mean, std)}`` of s and o.
    mask : PathMaskResult or None
        The path mask.
    warnings : list of str
        Human-readable problems.
    settings : dict
        Every parameter used.
    """

    image: torch.Tensor
    s: int
    o: int
    mode: str
    true_label: int | None
    logits: torch.Tensor
    probs: torch.Tensor
    reconstruction: Reconstruction
    morph: MorphHistory
    success: bool
    frames: torch.Tensor | None = None
    codes: torch.Tensor | None = None
    alpha: torch.Tensor | None = None
    frame_logits: torch.Tensor | None = None
    frame_probs: torch.Tensor | None = None
    frame_entropy: torch.Tensor | None = None
    window: EntropyWindow | None = None
    gradients: torch.Tensor | None = None
    diagnostics: PathDiagnostics | None = None
    norms: NormTable | None = None
    bands: dict | None = None
    mask: PathMaskResult | None = None
    warnings: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def _staged(progress, sizes: list[int]):
    """Per-stage progress callbacks that report one overall (done, total) count."""
    total, offsets = sum(sizes), [sum(sizes[:k]) for k in range(len(sizes))]
    if progress is None:
        return [None] * len(sizes), lambda k: None
    return ([lambda done, _total, a=a: progress(a + done, total) for a in offsets],
            lambda k: progress(offsets[k], total))


def _roles(probs: torch.Tensor, target, true_label) -> tuple[int, int, str]:
    """(s, o, mode) from the original's probabilities."""
    k = len(probs)
    top = probs.argsort(descending=True).tolist()
    s = top[0]
    target, true_label = (None if v is None else _class(v, k, name)
                          for v, name in ((target, "target"), (true_label, "true_label")))
    if true_label is not None and true_label != s:
        if target is not None and target != true_label:
            raise ValueError(f"the image is misclassified as {s}: misclassification mode morphs toward the true "
                             f"label {true_label}; target={target} contradicts it (leave target=None)")
        return s, true_label, "misclassified"
    if target is not None:
        if target == s:
            raise ValueError(f"target {target} is the predicted class itself; choose another class")
        return s, target, "target"
    return s, top[1], "second"


def _class(value, k: int, name: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be a class index (int), got {type(value).__name__}")
    if not 0 <= operator.index(value) < k:
        raise ValueError(f"{name} must be a class in 0..{k - 1}, got {value!r}")
    return operator.index(value)


def explain(classifier: nn.Module, vae, image: torch.Tensor, *, target: int | None = None,
            true_label: int | None = None, norms: NormTable | float | None = None, steps: int = 100,
            path: str = "radial", candidates: int = 256, rule: str = "top2", seed: int = 0,
            morph: dict | None = None,
            mask: dict | None = None, gradients: bool = True, on_failure: str = "stop",
            reconstruction: Reconstruction | None = None, preprocess: Preprocess = None, progress=None,
            cancel=None) -> MorphResult:
    """Explain why ``classifier`` labels ``image`` (C x H x W or 1 x C x H x W) s rather than o.

    ``norms``: the class-norm prior (``class_norms`` of the training set); None keeps the
    start code's norm in Semantic Morphing and adds a warning. ``steps``, ``path``: the path
    (100 radial steps by default); ``candidates`` (the K of best-of-K), ``rule``, ``seed``:
    best-of-K (:func:`reconstruct`); ``morph``: keyword arguments for :func:`semantic_morph` (e.g.
    ``dict(likelihood_weight=10)`` for notMNIST-like data); ``mask``: keyword arguments for
    :func:`path_mask` (e.g. ``dict(iterations=1000)``). ``reconstruction``: reuse an earlier
    :func:`reconstruct` result of this image (its choice does not depend on o), as when the
    widget re-targets. ``progress(done, total)`` counts reconstruction (1), morphing
    (``max_iter``), path (1) and mask iterations; ``cancel`` is checked throughout.

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier (logits); it is left as it was.
    vae : torch.nn.Module or tuple
        The VAE (see :func:`~xai_widgets.morph.latent.as_vae`); it is left as it was.
    image : torch.Tensor
        C x H x W or 1 x C x H x W float image.
    target : int, optional
        The class o to morph towards; None (default) is the second most probable class.
    true_label : int, optional
        The image's true label; when it differs from the prediction, o is the true label.
    norms : NormTable or float, optional
        The class-norm prior; None (default) keeps the start code's norm.
    steps : int, optional
        Number of path frames n (>= 2). Default 100.
    path : str, optional
        Path kind, one of ``KINDS``: "radial" (default), "linear" or "slerp".
    candidates : int, optional
        Samples besides mu for best-of-K (K in the thesis). Default 256.
    rule : str, optional
        Best-of-K rule: "top2" (default), "top1" or "none".
    seed : int, optional
        Seed of best-of-K sampling. Default 0.
    morph : dict, optional
        Keyword arguments for :func:`semantic_morph` (Semantic Morphing); None (default) for none.
    mask : dict, optional
        Keyword arguments for :func:`path_mask`; None (default) for none.
    gradients : bool, optional
        Compute d p_s / d x_i for every frame (default True).
    on_failure : str, optional
        "stop" (default: return after a failed morph) or "continue".
    reconstruction : Reconstruction, optional
        An earlier :func:`reconstruct` result of this image; None (default) computes it.
    preprocess : callable, optional
        Applied to images before the classifier; None (default) for none.
    progress : callable, optional
        ``progress(done, total)``; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        When set, raises ``Cancelled``.

    Returns
    -------
    MorphResult
        Everything the widget shows for the image.

    Raises
    ------
    ValueError
        If the input is not one image, ``on_failure``, ``path``, ``steps`` or ``reconstruction`` is
        invalid, or ``target`` / ``true_label`` contradict the prediction.
    TypeError
        If ``target`` or ``true_label`` is not an int.
    """
    vae = as_vae(vae)
    x = image_batch(image, "image")
    if len(x) != 1:
        raise ValueError(f"explain takes one image, got a batch of {len(x)}")
    if on_failure not in ("stop", "continue"):
        raise ValueError(f"on_failure must be 'stop' or 'continue', got {on_failure!r}")
    if path not in KINDS:
        raise ValueError(f"path must be one of {KINDS}, got {path!r}")
    alphas(steps)  # checks steps before the long stages
    if reconstruction is not None and len(reconstruction.code) != 1:
        raise ValueError("reconstruction must come from reconstruct() of this one image (a batch of 1)")
    morph_options, mask = dict(morph or {}), dict(mask or {})
    dev = model_device(classifier)
    x = x.to(dev)
    with preserved_models(classifier, vae), torch.no_grad():
        logits = classifier_logits(classifier, x, preprocess)[0]
    s, o, mode = _roles(logits.softmax(0), target, true_label)  # s: the self class, o: the other class
    stage, mark = _staged(progress, [1, morph_options.get("max_iter", 5000), 1, mask.get("iterations", 3000)])

    if reconstruction is None:
        reconstruction = reconstruct(classifier, vae, x, candidates=candidates, rule=rule, seed=seed,
                                     preprocess=preprocess, progress=stage[0], cancel=cancel)
    warnings = [w for w in reconstruction.warnings if w]
    if norms is None:
        warnings.append("no class-norm table: the likelihood term keeps the start code's norm; pass "
                        "norms=class_norms(vae, train_images, train_labels) for the per-class norm prior")
    history = semantic_morph(classifier, vae, reconstruction.code, s, o, norms=norms, preprocess=preprocess,
                             progress=stage[1], cancel=cancel, **morph_options)
    success = bool(history.success[0])
    result = MorphResult(
        image=x[0].cpu(), s=s, o=o, mode=mode, true_label=true_label, logits=logits.cpu(),
        probs=logits.softmax(0).cpu(), reconstruction=reconstruction, morph=history, success=success,
        norms=norms if isinstance(norms, NormTable) else None, warnings=warnings,
        settings={"steps": steps, "path": path, "candidates": candidates, "rule": rule, "seed": seed,
                  "gradients": gradients, "on_failure": on_failure, "morph": history.settings},
    )
    if isinstance(norms, NormTable):
        result.bands = {c: (float(norms.mean[c]), float(norms.std[c])) for c in (s, o)}
    if not success:
        warnings.append(f"Semantic Morphing did not reach class {o} in {history.settings['max_iter']} iterations "
                        f"(two-class entropy {float(history.entropy[0]):.3g} bit, "
                        f"p_{o} = {float(history.probs[0, o]):.3g})")
        if on_failure == "stop":
            return result
    mark(2)

    check(cancel)
    codes = latent_path(history.code[0], reconstruction.code[0], steps, path)
    frames = decode_path(vae, codes).to(dev)
    frame_logits, grads = _frame_analysis(classifier, frames, s, gradients, preprocess)
    mark(3)
    result.mask = path_mask(classifier, frames, s, preprocess=preprocess, progress=stage[3], cancel=cancel, **mask)
    entropy = two_class_entropy(frame_logits, s, o)
    result.frames, result.codes, result.alpha = frames.cpu(), codes.cpu(), alphas(steps).float()
    result.frame_logits, result.frame_probs = frame_logits, frame_logits.softmax(1)
    result.frame_entropy, result.window = entropy, entropy_window(entropy)
    result.gradients, result.diagnostics = grads, path_diagnostics(codes)
    result.settings["mask"] = result.mask.settings
    return result


def _frame_analysis(classifier, frames, s, gradients, preprocess):
    """Logits of every frame and, optionally, d p_s / d x_i, in one batched pass (CPU)."""
    with preserved_model(classifier, eval_mode=True), torch.enable_grad():
        xs = frames.detach().clone().requires_grad_(gradients)
        logits = classifier_logits(classifier, xs, preprocess)
        grads = torch.autograd.grad(logits.softmax(1)[:, s].sum(), [xs])[0].cpu() if gradients else None
    return logits.detach().cpu(), grads
