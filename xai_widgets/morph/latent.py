"""The VAE side of path-mask attribution: the model plumbing, the per-class latent-norm
prior and best-of-K reconstruction code selection.

Source: a thesis on path-mask attribution via VAE semantic morphing ("the source thesis" in
this package). The VAE is Kingma and Welling's ("Auto-Encoding Variational Bayes", ICLR 2014).

**The VAE interface.** Every function here takes ``vae`` as an ``nn.Module`` with
``encode(x) -> (mu, logvar)`` (each B x d; the second head holds the log variance) and
``decode(z) -> images`` (B x C x H x W in the classifier's input range, [0, 1] for the
source thesis's sigmoid decoders). Other VAEs go through :class:`VAEAdapter`, or pass the pair
``(encoder, decoder)``, whose encoder returns ``(mu, logvar)``::

    vae = VAEAdapter(my_encoder, my_decoder, scale="std")  # encoder returns (mu, sigma)

**Classifier preprocessing.** ``preprocess`` (a differentiable callable or None) is applied
to decoded images before the classifier: the decoder makes [0, 1] images and the classifier
may expect mean/std normalised ones.

**Model hygiene** (as in :mod:`xai_widgets.core.capture`, for the classifier and the VAE, also
when cancelled or when a forward raises): both run in eval mode (the source thesis's models have
BatchNorm and Dropout) and their training flags are restored afterwards;
parameters, buffers and ``requires_grad`` flags are untouched; no hook, no new ``.grad``.
Everything runs on the models' devices.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn

from ..core.capture import preserved_model, model_device
from ..core.images import check_finite
from ..core.tasks import check, report

__all__ = ["VAEAdapter", "as_vae", "NormTable", "class_norms", "Reconstruction", "reconstruct"]

Preprocess = Callable[[torch.Tensor], torch.Tensor] | None

_SCALES = ("logvar", "std", "logstd")
_RULES = ("top2", "top1", "none")


# ------------------------------------------------------------------ VAE plumbing


class VAEAdapter(nn.Module):
    """An encoder and a decoder module seen as one VAE with ``encode``/``decode``.

    ``encoder(x)`` must return ``(mu, s)`` where ``s`` is the log-variance (``scale="logvar"``),
    the standard deviation (``"std"``) or its logarithm (``"logstd"``); ``decoder(z)`` returns
    images. The modules are held, not copied: hygiene guarantees apply to them.

    Parameters
    ----------
    encoder : torch.nn.Module
        ``encoder(x) -> (mu, s)``, mu and s B x d.
    decoder : torch.nn.Module
        ``decoder(z) -> images``.
    scale : str, optional
        What ``s`` is: "logvar" (default), "std" or "logstd"; ``encode`` converts it to a log-variance.

    Raises
    ------
    TypeError
        If ``encoder`` or ``decoder`` is not an ``nn.Module``.
    ValueError
        If ``scale`` is unknown.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, scale: str = "logvar"):
        super().__init__()
        if not isinstance(encoder, nn.Module) or not isinstance(decoder, nn.Module):
            raise TypeError("VAEAdapter(encoder, decoder): both must be torch.nn.Module instances, got "
                            f"{type(encoder).__name__} and {type(decoder).__name__}")
        if scale not in _SCALES:
            raise ValueError(f"scale must be one of {_SCALES}, got {scale!r}")
        self.encoder, self.decoder, self.scale = encoder, decoder, scale

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``x`` and convert the encoder's scale head to a log-variance.

        Parameters
        ----------
        x : torch.Tensor
            B x C x H x W images, as the encoder takes them.

        Returns
        -------
        mu : torch.Tensor
            B x d means, as the encoder returns them.
        logvar : torch.Tensor
            B x d log-variances: ``s`` itself for ``scale="logvar"``, ``2 log s`` for
            ``"std"``, ``2 s`` for ``"logstd"``.
        """
        mu, s = self.encoder(x)
        if self.scale == "std":
            return mu, 2 * torch.log(s)
        if self.scale == "logstd":
            return mu, 2 * s
        return mu, s

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode codes with the decoder, unchanged.

        Parameters
        ----------
        z : torch.Tensor
            B x d codes.

        Returns
        -------
        torch.Tensor
            What ``decoder(z)`` returns (B x C x H x W images).
        """
        return self.decoder(z)


def as_vae(vae) -> nn.Module:
    """``vae`` itself when it is an ``nn.Module`` with ``encode`` and ``decode``, else a wrapped pair.

    A pair ``(encoder, decoder)`` of modules is wrapped in :class:`VAEAdapter` (log-variance head).

    Parameters
    ----------
    vae : torch.nn.Module or tuple of (torch.nn.Module, torch.nn.Module)
        A module with ``encode(x) -> (mu, logvar)`` and ``decode(z) -> images``, or a pair
        ``(encoder, decoder)``.

    Returns
    -------
    torch.nn.Module
        A module with ``encode`` and ``decode``.

    Raises
    ------
    TypeError
        If ``vae`` is neither.
    """
    if isinstance(vae, nn.Module) and callable(getattr(vae, "encode", None)) and callable(getattr(vae, "decode", None)):
        return vae
    if isinstance(vae, (tuple, list)) and len(vae) == 2:
        return VAEAdapter(*vae)
    raise TypeError(
        f"vae must be an nn.Module with encode(x) -> (mu, logvar) and decode(z) -> images, or a pair "
        f"(encoder, decoder) of modules; got {type(vae).__name__}. Wrap other VAEs with "
        "xai_widgets.morph.VAEAdapter(encoder, decoder, scale='logvar'|'std'|'logstd')"
    )


@contextlib.contextmanager
def preserved_models(classifier: nn.Module, vae: nn.Module) -> Iterator[None]:
    """Eval mode for both models inside; flags and .grad restored afterwards, whatever happens.

    Both models are held as :func:`xai_widgets.core.capture.preserved_model` holds one (its
    lock, training flags and new ``.grad`` handling), the classifier first.

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier.
    vae : torch.nn.Module
        The VAE (as :func:`as_vae` returns it).

    Yields
    ------
    None

    Raises
    ------
    TypeError
        If ``classifier`` is not an ``nn.Module``.
    ValueError
        When the body raises a RuntimeError saying the input is too small for a model.
    """
    if not isinstance(classifier, nn.Module):
        raise TypeError(f"classifier must be a torch.nn.Module, got {type(classifier).__name__}")
    with preserved_model(classifier, eval_mode=True), preserved_model(vae, eval_mode=True):
        yield


def _encode(vae: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = vae.encode(x.to(model_device(vae)))
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise TypeError("vae.encode(x) must return a pair (mu, logvar) of B x d tensors; "
                        "wrap other encoders with VAEAdapter(encoder, decoder, scale=...)")
    mu, logvar = out
    if mu.dim() != 2 or mu.shape != logvar.shape:
        raise ValueError(f"vae.encode returned mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)}; "
                         "both must be B x d")
    return mu, logvar


def decode_on(vae: nn.Module, z: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Decode codes on the VAE's device and hand the images over on ``device`` (the classifier's).

    Parameters
    ----------
    vae : torch.nn.Module
        A module with ``decode(z) -> images``.
    z : torch.Tensor
        B x d codes, on any device.
    device : torch.device
        Where the images are returned.

    Returns
    -------
    torch.Tensor
        The decoded images on ``device`` (gradients flow).
    """
    return vae.decode(z.to(model_device(vae))).to(device)


def classifier_logits(classifier: nn.Module, x: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """The classifier's output for ``x``, after ``preprocess`` when one is given.

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier.
    x : torch.Tensor
        B x C x H x W images, on the classifier's device.
    preprocess : callable or None
        Differentiable callable applied to ``x`` first; None applies nothing.

    Returns
    -------
    torch.Tensor
        ``classifier(preprocess(x))`` (or ``classifier(x)``), usually B x K logits.
    """
    return classifier(x if preprocess is None else preprocess(x))


def image_batch(x, name: str = "images") -> torch.Tensor:
    """A float B x C x H x W batch (a single C x H x W image gets a batch axis).

    Parameters
    ----------
    x : torch.Tensor
        A float tensor B x C x H x W or C x H x W.
    name : str, default "images"
        Its name in error messages.

    Returns
    -------
    torch.Tensor
        ``x`` itself, or a 1 x C x H x W view of it.

    Raises
    ------
    TypeError
        If ``x`` is not a tensor.
    ValueError
        If ``x`` is not a float tensor of 3 or 4 dimensions, is empty or is not finite.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (B x C x H x W or C x H x W), got {type(x).__name__}")
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"{name} must be a float tensor B x C x H x W or C x H x W, got "
                         f"{x.dtype} of shape {tuple(x.shape)}")
    check_finite(x, name)
    return x


# ------------------------------------------------------------------ the latent-norm prior


@dataclass
class NormTable:
    """Per-class statistics of the latent norm ||mu_E(x)||, all CPU tensors.

    ``mean``, ``std`` (sample std), ``count``: K-vectors (NaN for a class with no image);
    ``mean_code_norm``: K-vector, the norm of each class's mean code; ``hist`` (K x bins)
    with shared ``edges`` (bins + 1) for the display; ``target``: which K-vector
    :meth:`targets` returns as the Semantic Morphing norm target, ``"mean_norm"`` (default,
    the mean of the norms: the source thesis's prose and the Gaussian rationale) or
    ``"norm_of_mean"`` (the source thesis's formula ``||c_o||``, which its prose contradicts).
    ``sample_mean``, ``sample_std``: the same statistics of ||z|| for one encoder sample
    z = mu + sigma * eps per image (eps from a generator seeded with 0). A path between sampled
    codes (best-of-K picks a sample unless mu itself is best) is measured in these units: in d
    dimensions E||z||^2 = ||mu||^2 + sum(sigma^2), far above ||mu||^2 when sigma is near 1.

    Attributes
    ----------
    mean : torch.Tensor
        K mean norms per class.
    std : torch.Tensor
        K sample standard deviations of the norms per class.
    count : torch.Tensor
        K image counts per class (long).
    mean_code_norm : torch.Tensor
        K norms of each class's mean code.
    hist : torch.Tensor
        K x bins histogram counts.
    edges : torch.Tensor
        bins + 1 histogram edges shared by the classes.
    target : str
        "mean_norm" (default) or "norm_of_mean".
    sample_mean, sample_std : torch.Tensor or None
        K mean and standard deviation of the sampled-code norms ||z||.
    """

    mean: torch.Tensor
    std: torch.Tensor
    count: torch.Tensor
    mean_code_norm: torch.Tensor
    hist: torch.Tensor
    edges: torch.Tensor
    target: str = "mean_norm"
    sample_mean: torch.Tensor | None = None
    sample_std: torch.Tensor | None = None

    def targets(self, classes: torch.Tensor) -> torch.Tensor:
        """The norm target r_o for each class in ``classes`` (a long tensor).

        Parameters
        ----------
        classes : torch.Tensor
            Long tensor of class indices.

        Returns
        -------
        torch.Tensor
            The norm target r_o of each class (CPU), from ``mean`` or ``mean_code_norm`` by ``target``.

        Raises
        ------
        ValueError
            If a class is out of range or has no images in the table.
        """
        table = self.mean if self.target == "mean_norm" else self.mean_code_norm
        classes = classes.cpu()
        if (classes < 0).any() or (classes >= len(table)).any():
            raise ValueError(f"class out of range for a norm table of {len(table)} classes: {classes.tolist()}")
        empty = self.count[classes] == 0
        if empty.any():
            raise ValueError(f"the norm table has no images of class(es) {classes[empty].tolist()}; "
                             "compute it from images covering every class")
        return table[classes]


def class_norms(vae, images: torch.Tensor, labels, num_classes: int | None = None, *,
                target: str = "mean_norm", bins: int = 40, batch_size: int = 256) -> NormTable:
    """The per-class latent-norm prior of the source thesis.

    Every image is encoded with the encoder mean (our choice) and r = ||mu||_2; each class
    gets the mean and the sample standard deviation of its norms (the source thesis's Normal
    approximation of a right-skewed distribution), the norm of its mean code, and a
    histogram. Pass the training images (as the source thesis does).

    Parameters
    ----------
    vae : torch.nn.Module or tuple
        The VAE (see :func:`as_vae`); it is left as it was.
    images : torch.Tensor
        B x C x H x W (or C x H x W) float images.
    labels : sequence of int or torch.Tensor
        B class indices.
    num_classes : int, optional
        Number of classes K; None (default) is ``max(labels) + 1``.
    target : str, optional
        "mean_norm" (default) or "norm_of_mean", stored in the table.
    bins : int, optional
        Number of histogram bins. Default 40.
    batch_size : int, optional
        Images encoded per forward pass. Default 256.

    Returns
    -------
    NormTable
        The per-class statistics (CPU tensors).

    Raises
    ------
    ValueError
        If the labels do not match the images or lie outside 0..K-1, or ``target`` is unknown.
    """
    vae = as_vae(vae)
    images = image_batch(images)
    labels = torch.as_tensor(labels).long().cpu()
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be a vector of {len(images)} class indices, got shape {tuple(labels.shape)}")
    if target not in ("mean_norm", "norm_of_mean"):
        raise ValueError(f"target must be 'mean_norm' or 'norm_of_mean', got {target!r}")
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    if labels.min() < 0 or labels.max() >= k:
        raise ValueError(f"labels must lie in 0..{k - 1}")
    with preserved_model(vae, eval_mode=True), torch.no_grad():
        mu, logvar = (torch.cat(t) for t in zip(*[
            [v.float().cpu() for v in _encode(vae, images[i:i + batch_size])]
            for i in range(0, len(images), batch_size)]))
    norms = mu.norm(dim=1)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
    sampled = (mu + (0.5 * logvar).exp() * eps).norm(dim=1)
    edges = torch.linspace(0, float(norms.max()) * 1.05, bins + 1)
    mean, std, code_norm, s_mean, s_std = (torch.full((k,), float("nan")) for _ in range(5))
    count, hist = torch.zeros(k, dtype=torch.long), torch.zeros(k, bins)
    for c in range(k):
        r = norms[labels == c]
        count[c] = len(r)
        if len(r):
            mean[c], code_norm[c] = r.mean(), mu[labels == c].mean(0).norm()
            std[c] = r.std() if len(r) > 1 else 0.0
            s_mean[c] = sampled[labels == c].mean()
            s_std[c] = sampled[labels == c].std() if len(r) > 1 else 0.0
            hist[c] = torch.histogram(r, edges).hist
    return NormTable(mean, std, count, code_norm, hist, edges, target, s_mean, s_std)


# ------------------------------------------------------------------ best-of-K reconstruction


@dataclass
class Reconstruction:
    """Best-of-K reconstruction codes for a batch of B images, CPU tensors.

    ``code`` (B x d): the chosen code c_self; ``image`` (B x C x H x W): D(c_self);
    ``mu``/``logvar`` (B x d): the encoder's output; ``index`` (B): the chosen candidate
    (0 is mu itself, k >= 1 the k-th sample); ``l1`` (B): ||D(c_self) - x||_1;
    ``ok`` (B, bool): a candidate passed the rule; ``matching`` (B): how many passed;
    ``original_top2`` / ``top2`` (B x 2): the ordered top-2 classes of the original and of
    the reconstruction; ``logits`` (B x K): of the reconstruction; ``candidate_l1`` and
    ``candidate_match`` (B x (K+1), K = ``candidates``): every candidate's L1 distance and rule result;
    ``warnings``: one entry per image, None or the reason the fallback was used.

    Attributes
    ----------
    code : torch.Tensor
        B x d chosen codes c_self.
    image : torch.Tensor
        B x C x H x W decoded images D(c_self).
    mu, logvar : torch.Tensor
        B x d encoder output.
    index : torch.Tensor
        B chosen candidate indices.
    l1 : torch.Tensor
        B L1 distances ||D(c_self) - x||_1.
    ok : torch.Tensor
        B bool, whether a candidate passed the rule.
    matching : torch.Tensor
        B counts of candidates that passed.
    original_top2, top2 : torch.Tensor
        B x 2 ordered top-2 classes of the original and of the reconstruction.
    logits : torch.Tensor
        B x K logits of the reconstruction.
    candidate_l1, candidate_match : torch.Tensor
        B x (K+1) L1 distances and rule results of every candidate.
    warnings : list
        B entries, None or the reason the fallback was used.
    settings : dict
        ``{"candidates": ..., "rule": ..., "seed": ...}``.
    """

    code: torch.Tensor
    image: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    index: torch.Tensor
    l1: torch.Tensor
    ok: torch.Tensor
    matching: torch.Tensor
    original_top2: torch.Tensor
    top2: torch.Tensor
    logits: torch.Tensor
    candidate_l1: torch.Tensor
    candidate_match: torch.Tensor
    warnings: list
    settings: dict = field(default_factory=dict)


def _matches(top2: torch.Tensor, reference: torch.Tensor, rule: str) -> torch.Tensor:
    if rule == "top2":
        return (top2 == reference).all(1)
    if rule == "top1":
        return top2[:, 0] == reference[0]
    return torch.ones(len(top2), dtype=torch.bool, device=top2.device)


def reconstruct(classifier: nn.Module, vae, x: torch.Tensor, candidates: int = 256, rule: str = "top2",
                seed: int = 0, *, preprocess: Preprocess = None, progress=None, cancel=None) -> Reconstruction:
    """Best-of-K reconstruction code selection, as in the source thesis.

    For each image: (mu, logvar) = E(x); candidates are mu and K = ``candidates`` samples
    mu + sigma * eps_k (eps drawn at once as ``torch.randn(B, K, d)`` from a CPU generator
    seeded with ``seed``, so results do not depend on the device); all K + 1 are decoded and
    classified in one batch. ``rule`` keeps the candidates whose ordered top-2 classes equal
    the original's (``"top2"``, default), whose top-1 does (``"top1"``), or all
    (``"none"``); the kept candidate closest to x in L1 wins.
    When none passes, the L1-closest of all is used, ``ok`` is False and a warning says how
    the label changed (the source thesis shows 8 -> 7 and 6 -> 5 failures).

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier (B x K logits); it is left as it was.
    vae : torch.nn.Module or tuple
        The VAE (see :func:`as_vae`); it is left as it was.
    x : torch.Tensor
        B x C x H x W (or C x H x W) float images.
    candidates : int, optional
        Number of samples drawn besides mu (K in the thesis's best-of-K, >= 0). Default 256.
    rule : str, optional
        "top2" (default), "top1" or "none".
    seed : int, optional
        Seed of the CPU generator of eps. Default 0.
    preprocess : callable, optional
        Applied to images before the classifier; None (default) for none.
    progress : callable, optional
        ``progress(done, total)`` after every image; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        Checked before every image; when set, raises ``Cancelled``.

    Returns
    -------
    Reconstruction
        The chosen codes, images and diagnostics (CPU tensors).

    Raises
    ------
    ValueError
        If ``candidates`` is not a non-negative int, ``rule`` is unknown or ``x`` is not a float image batch.
    """
    vae = as_vae(vae)
    x = image_batch(x, "x")
    if not isinstance(candidates, int) or candidates < 0:
        raise ValueError(f"candidates must be a non-negative int (samples besides mu), got {candidates!r}")
    K = candidates  # the K of best-of-K
    if rule not in _RULES:
        raise ValueError(f"rule must be one of {_RULES}, got {rule!r}")
    dev = model_device(classifier)
    x = x.to(dev)
    out = {k: [] for k in ("code", "image", "index", "l1", "ok", "matching", "top2", "logits", "cl1", "cmatch")}
    warnings = []
    with preserved_models(classifier, vae), torch.no_grad():
        original_top2 = classifier_logits(classifier, x, preprocess).topk(2, dim=1).indices
        mu, logvar = _encode(vae, x)
        eps = torch.randn(len(x), K, mu.shape[1], generator=torch.Generator().manual_seed(seed)).to(mu)
        for b in range(len(x)):
            check(cancel)
            codes = torch.cat([mu[b:b + 1], mu[b] + torch.exp(0.5 * logvar[b]) * eps[b]])
            images = decode_on(vae, codes, dev)
            logits = classifier_logits(classifier, images, preprocess)
            top2 = logits.topk(2, dim=1).indices
            l1 = (images - x[b]).abs().flatten(1).sum(1)
            match = _matches(top2, original_top2[b], rule)
            pick = int(torch.where(match, l1, torch.inf).argmin()) if match.any() else int(l1.argmin())
            warnings.append(None if match.any() else
                            f"no reconstruction among {K + 1} codes keeps the classifier's {_rule_text(rule)} "
                            f"{original_top2[b].tolist()}; using the closest one, classified {top2[pick].tolist()}")
            for key, value in (("code", codes[pick]), ("image", images[pick]), ("index", pick), ("l1", l1[pick]),
                               ("ok", bool(match.any())), ("matching", int(match.sum())), ("top2", top2[pick]),
                               ("logits", logits[pick]), ("cl1", l1), ("cmatch", match)):
                out[key].append(torch.as_tensor(value).cpu())
            report(progress, b + 1, len(x))
    stack = {k: torch.stack(v) for k, v in out.items()}
    return Reconstruction(
        code=stack["code"], image=stack["image"], mu=mu.cpu(), logvar=logvar.cpu(), index=stack["index"],
        l1=stack["l1"], ok=stack["ok"], matching=stack["matching"], original_top2=original_top2.cpu(),
        top2=stack["top2"], logits=stack["logits"], candidate_l1=stack["cl1"], candidate_match=stack["cmatch"],
        warnings=warnings, settings={"candidates": candidates, "rule": rule, "seed": seed},
    )


def _rule_text(rule: str) -> str:
    return {"top2": "ordered top-2 classes", "top1": "top class", "none": "classes"}[rule]


def class_vector(values, n: int, k: int, name: str) -> torch.Tensor:
    """``values`` (an int or n ints) as a long n-vector of classes in 0..k-1.

    Parameters
    ----------
    values : int, sequence of int or torch.Tensor
        One class (repeated n times) or n classes.
    n : int
        The number of classes wanted (the batch size).
    k : int
        The number of classes of the classifier.
    name : str
        The argument's name in error messages.

    Returns
    -------
    torch.Tensor
        Long CPU tensor of n classes (a new tensor when one class is repeated).

    Raises
    ------
    ValueError
        If ``values`` holds neither one nor n classes, or a class is outside 0..k-1.
    """
    t = torch.as_tensor(values).long().flatten().cpu()
    if len(t) == 1:
        t = t.expand(n).clone()
    if len(t) != n:
        raise ValueError(f"{name} must be one class or {n} classes, got {len(t)}")
    if (t < 0).any() or (t >= k).any():
        raise ValueError(f"{name} must be classes in 0..{k - 1}, got {t.tolist()}")
    return t


def check_codes(codes, name: str = "codes") -> torch.Tensor:
    """``codes`` (a finite float tensor: one code d, or B x d) checked and returned as a batch B x d.

    Parameters
    ----------
    codes : torch.Tensor
        A float tensor d or B x d.
    name : str, default "codes"
        Its name in error messages.

    Returns
    -------
    torch.Tensor
        ``codes`` itself, or a 1 x d view of it.

    Raises
    ------
    ValueError
        If ``codes`` is not a float tensor of 1 or 2 dimensions, is empty or is not finite.
    """
    if not isinstance(codes, torch.Tensor) or not codes.is_floating_point() or codes.dim() not in (1, 2):
        raise ValueError(f"{name} must be a float tensor d or B x d, got "
                         f"{getattr(codes, 'shape', type(codes).__name__)}")
    check_finite(codes, name)
    return codes[None] if codes.dim() == 1 else codes
