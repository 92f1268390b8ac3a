"""Two-class entropy, the entropy window, loss-scale normalisation and Semantic Morphing.

Source: the thesis on path-mask attribution ("the source thesis", see
:mod:`xai_widgets.morph.latent`).

* Two-class entropy: (q_A, q_B) = softmax([l_A, l_B]) over the two logits
  only, H = -q_A log2 q_A - q_B log2 q_B in [0, 1] bit.
* Entropy window: the entropy-weighted mean step mu_H and standard deviation
  sigma_H of a path, and the window mu_H -+ 1.96 sigma_H where the class decision happens.
* Loss-scale normalisation: "a progressive average of each loss term" rescales
  the regulariser to the objective's scale (:class:`LossScale`, in our form).
* Semantic Morphing: Adam on the VAE code from c_self, minimising
  -l_o(D(c)) + alpha_lk (||c|| - r_o)^2 (no similarity term: early stopping keeps the result
  close) until the two-class entropy of (s, o) drops below 0.01 bit with
  q_o > 0.5, at most 5,000 iterations.

Notation: the thesis's symbols appear in the formulas; the public arguments have readable
names: ``self_class`` is s, ``other_class`` o, ``self_codes`` c_self, ``likelihood_weight``
alpha_lk and ``entropies`` the sequence H_1..H_n.

Model hygiene: see :mod:`xai_widgets.morph.latent`; gradients are taken with
``torch.autograd.grad`` with respect to the codes only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..core.capture import model_device
from ..core.images import to_uint8
from ..core.tasks import check, report
from .latent import (NormTable, Preprocess, check_codes, class_vector, decode_on, classifier_logits,
                     preserved_models, as_vae)

__all__ = ["two_class_probs", "two_class_entropy", "EntropyWindow", "entropy_window", "LossScale",
           "MorphHistory", "semantic_morph"]

_REPORT_EVERY = 10


# ------------------------------------------------------------------ entropy


def two_class_probs(logits: torch.Tensor, self_class, other_class) -> tuple[torch.Tensor, torch.Tensor]:
    """(q_s, q_o) = softmax([l_s, l_o]) for each row of ``logits`` (B x K or K).

    ``self_class`` (s), ``other_class`` (o) are classes (ints or B-vectors).

    Parameters
    ----------
    logits : torch.Tensor
        B x K (or K) classifier logits.
    self_class : int or sequence of int or torch.Tensor
        The self class (s in the thesis: the class the image has), one int or B ints.
    other_class : int or sequence of int or torch.Tensor
        The other (target) class (o in the thesis), one int or B ints.

    Returns
    -------
    q_s : torch.Tensor
        B (or scalar for K logits) two-class probabilities of s.
    q_o : torch.Tensor
        B (or scalar) two-class probabilities of o, 1 - q_s.

    Raises
    ------
    ValueError
        If ``logits`` is not K or B x K, or a class is out of range.
    """
    l_s, l_o = _pair(logits, self_class, other_class)  # the logits of s and of o
    q_s = torch.sigmoid(l_s - l_o)
    return q_s, 1 - q_s


def two_class_entropy(logits: torch.Tensor, self_class, other_class) -> torch.Tensor:
    """The source thesis's two-class entropy in bits for each row of ``logits``.

    Parameters
    ----------
    logits : torch.Tensor
        B x K (or K) classifier logits.
    self_class : int or sequence of int or torch.Tensor
        The self class (s in the thesis: the class the image has), one int or B ints.
    other_class : int or sequence of int or torch.Tensor
        The other (target) class (o in the thesis), one int or B ints.

    Returns
    -------
    torch.Tensor
        B (or scalar for K logits) binary entropies H(q_s, q_o) in bits.

    Raises
    ------
    ValueError
        If ``logits`` is not K or B x K, or a class is out of range.
    """
    l_s, l_o = _pair(logits, self_class, other_class)  # the logits of s and of o
    return _entropy_bits(l_s - l_o)


def _entropy_bits(d: torch.Tensor) -> torch.Tensor:
    """Binary entropy (bits) of sigmoid(d), from log-sigmoids so that it stays exact (and
    0 log 0 = 0) when one class dominates by many logits."""
    log_q, log_p = nn.functional.logsigmoid(d), nn.functional.logsigmoid(-d)
    return -(log_q.exp() * log_q + log_p.exp() * log_p) / math.log(2)


def _pair(logits: torch.Tensor, self_class, other_class) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits (l_s, l_o) of the self class s and the other class o, per row."""
    if not isinstance(logits, torch.Tensor) or logits.dim() not in (1, 2):
        raise ValueError(f"logits must be a tensor K or B x K, got {getattr(logits, 'shape', type(logits).__name__)}")
    rows = logits[None] if logits.dim() == 1 else logits
    s = class_vector(self_class, len(rows), rows.shape[1], "self_class").to(rows.device)  # s per row
    o = class_vector(other_class, len(rows), rows.shape[1], "other_class").to(rows.device)  # o per row
    pair = rows.gather(1, s[:, None]).squeeze(1), rows.gather(1, o[:, None]).squeeze(1)
    return pair if logits.dim() == 2 else (pair[0][0], pair[1][0])


@dataclass
class EntropyWindow:
    """Where along a path (0-based step indices) the two-class entropy is concentrated.

    ``mean`` = sum_i i H_i / sum_i H_i; ``std`` = sqrt(sum_i H_i (i - mean)^2 / sum_i H_i);
    ``low``/``high`` = mean -+ z std (z = 1.96); ``inside`` (n, bool): steps in the window;
    ``position``: ``"left"`` if the window includes the first step (the start is already
    ambiguous), ``"right"`` if it includes the last, ``"both"``, or ``"centre"``;
    ``"none"`` with NaN statistics when H is 0 everywhere (H: the entropies).
    The source thesis numbers steps 1..n: add 1 to ``mean``, ``low`` and ``high`` for its figures.

    Attributes
    ----------
    mean : float
        Entropy-weighted mean step index.
    std : float
        Entropy-weighted standard deviation of the step index.
    low, high : float
        The window's ends, mean -+ z std.
    inside : numpy.ndarray
        n bool, steps in the window.
    position : str
        "left", "right", "both", "centre" or "none".
    """

    mean: float
    std: float
    low: float
    high: float
    inside: np.ndarray
    position: str


def entropy_window(entropies, z: float = 1.96) -> EntropyWindow:
    """The source thesis's entropy window of an entropy sequence H_1..H_n.

    Parameters
    ----------
    entropies : sequence of float, numpy.ndarray or torch.Tensor
        The n two-class entropies along the path (H_1..H_n in the thesis; 1-d, finite,
        non-negative).
    z : float, optional
        Half-width of the window in standard deviations: the standard normal quantile (1.96, the
        default, is the two-sided 95 % one, as in the thesis).

    Returns
    -------
    EntropyWindow
        The window's statistics.

    Raises
    ------
    ValueError
        If ``entropies`` is not a 1-d sequence of finite, non-negative entropies.
    """
    h = np.asarray(entropies.detach().cpu() if isinstance(entropies, torch.Tensor) else entropies,
                   dtype=np.float64)  # H_1..H_n
    if h.ndim != 1 or len(h) < 1 or (h < 0).any() or not np.isfinite(h).all():
        raise ValueError("entropies must be a 1-d sequence of finite, non-negative entropies")
    total = h.sum()
    if total == 0:
        return EntropyWindow(math.nan, math.nan, math.nan, math.nan, np.zeros(len(h), bool), "none")
    i = np.arange(len(h))
    mean = float((i * h).sum() / total)
    std = float(np.sqrt((h * (i - mean) ** 2).sum() / total))
    low, high = mean - z * std, mean + z * std
    left, right = low <= 0, high >= len(h) - 1
    position = "both" if left and right else "left" if left else "right" if right else "centre"
    return EntropyWindow(mean, std, low, high, (i >= low) & (i <= high), position)


# ------------------------------------------------------------------ loss normalisation


class LossScale:
    """The source thesis's progressive loss normalisation (in our form).

    Keeps running averages A_obj of |objective| and A_reg of |regulariser| for each of
    ``size`` independent problems (detached: they carry no gradient) and returns the factor
    A_obj / (A_reg + eps) that multiplies the regularisation weight, so that
    L = L_obj + weight * factor * L_reg. ``decay=None`` averages over every step so far (the
    default); a float in [0, 1) gives an exponential moving average instead.
    Note: any constant rescaling of L_reg cancels in factor * L_reg.

    Parameters
    ----------
    size : int, optional
        Number of independent problems. Default 1.
    decay : float, optional
        None (default) for the cumulative mean, or an EMA decay in [0, 1).
    eps : float, optional
        Added to A_reg in the denominator. Default 1e-8.
    device : torch.device or str, optional
        Device of the running averages; None (default) is the CPU.

    Attributes
    ----------
    decay, eps
        As given.
    obj, reg : torch.Tensor
        size float64 running sums (cumulative) or averages (EMA) of |objective| and |regulariser|.
    count : torch.Tensor
        size float64 counts of the updates.

    Raises
    ------
    ValueError
        If ``decay`` is not None and not in [0, 1).
    """

    def __init__(self, size: int = 1, decay: float | None = None, eps: float = 1e-8, device=None):
        if decay is not None and not 0 <= decay < 1:
            raise ValueError(f"decay must be None (cumulative mean) or in [0, 1), got {decay!r}")
        self.decay, self.eps = decay, eps
        self.obj = torch.zeros(size, dtype=torch.float64, device=device)
        self.reg = torch.zeros_like(self.obj)
        self.count = torch.zeros_like(self.obj)

    def update(self, objective: torch.Tensor, regulariser: torch.Tensor, index=None) -> torch.Tensor:
        """Add this step's values (of the problems ``index``, default all); return their factors.

        Parameters
        ----------
        objective : torch.Tensor
            This step's objective values, one per problem in ``index``.
        regulariser : torch.Tensor
            This step's regulariser values, one per problem in ``index``.
        index : slice, torch.Tensor or None, optional
            The problems updated; None (default) for all.

        Returns
        -------
        torch.Tensor
            The factors A_obj / (A_reg + eps), in ``objective``'s dtype.
        """
        idx = slice(None) if index is None else index
        obj, reg = objective.detach().abs().double(), regulariser.detach().abs().double()
        self.count[idx] += 1
        if self.decay is None:
            self.obj[idx] += obj
            self.reg[idx] += reg
            mean_obj, mean_reg = self.obj[idx] / self.count[idx], self.reg[idx] / self.count[idx]
        else:
            first = self.count[idx] == 1  # an EMA starts at the first value, not at 0
            keep = (~first).double() * self.decay
            self.obj[idx] = keep * self.obj[idx] + (1 - keep) * obj
            self.reg[idx] = keep * self.reg[idx] + (1 - keep) * reg
            mean_obj, mean_reg = self.obj[idx], self.reg[idx]
        return (mean_obj / (mean_reg + self.eps)).to(objective.dtype)


# ------------------------------------------------------------------ Semantic Morphing


@dataclass
class MorphHistory:
    """Semantic Morphing of B codes, CPU tensors.

    Final state per element: ``code`` (B x d) c_other; ``image`` (B x C x H x W) D(c_other);
    ``success`` (B, bool): stopped by the criterion; ``iterations`` (B): Adam steps taken
    (``max_iter`` for a failure); ``logits``, ``probs`` (B x K) and ``entropy`` (B) of
    D(c_other); ``s``, ``o`` (B); ``target_norm`` (B): r_o.

    Trace, one row per recorded iteration (``t``, T: every ``record_every``-th and the last),
    evaluated at the code *before* that iteration's step, NaN (0 for thumbnails) once an
    element has stopped (``active`` T x B says which are real): ``loss_objective`` (-l_o),
    ``loss_likelihood`` ((||c|| - r_o)^2), ``loss_total`` (with the normalisation factor),
    ``scale`` (the factor), ``trace_logits``/``trace_probs`` (T x B x K), ``trace_entropy``,
    ``trace_norm`` (T x B), ``trace_codes`` (T x B x d) and ``thumbnails`` (T x B x C x H x W
    uint8, D(c) x 255 rounded; None when not recorded). Replaying step k of element b:
    ``thumbnails[k, b]`` or ``vae.decode(trace_codes[k, b])``.

    Attributes
    ----------
    code, image : torch.Tensor
        B x d final codes c_other and B x C x H x W images D(c_other).
    success : torch.Tensor
        B bool, stopped by the criterion.
    iterations : torch.Tensor
        B Adam steps taken.
    logits, probs : torch.Tensor
        B x K logits and softmax probabilities of D(c_other).
    entropy : torch.Tensor
        B two-class entropies (bits) of D(c_other).
    s, o : torch.Tensor
        B self classes s and target classes o.
    target_norm : torch.Tensor
        B norm targets r_o.
    t : torch.Tensor
        T recorded iteration numbers.
    active : torch.Tensor
        T x B bool, which trace entries are real.
    loss_objective, loss_likelihood, loss_total, scale : torch.Tensor
        T x B loss terms and normalisation factor.
    trace_logits, trace_probs : torch.Tensor
        T x B x K.
    trace_entropy, trace_norm : torch.Tensor
        T x B entropies (bits) and code norms.
    trace_codes : torch.Tensor
        T x B x d codes.
    thumbnails : torch.Tensor or None
        T x B x C x H x W uint8 images, or None.
    settings : dict
        The settings used.
    """

    code: torch.Tensor
    image: torch.Tensor
    success: torch.Tensor
    iterations: torch.Tensor
    logits: torch.Tensor
    probs: torch.Tensor
    entropy: torch.Tensor
    s: torch.Tensor
    o: torch.Tensor
    target_norm: torch.Tensor
    t: torch.Tensor
    active: torch.Tensor
    loss_objective: torch.Tensor
    loss_likelihood: torch.Tensor
    loss_total: torch.Tensor
    scale: torch.Tensor
    trace_logits: torch.Tensor
    trace_probs: torch.Tensor
    trace_entropy: torch.Tensor
    trace_norm: torch.Tensor
    trace_codes: torch.Tensor
    thumbnails: torch.Tensor | None
    settings: dict = field(default_factory=dict)

    @property
    def failure_rate(self) -> float:
        """The source thesis's Semantic Morphing error rate: failures / elements."""
        return float((~self.success).float().mean())


class _Trace:
    """Rows of per-element values at recorded iterations, NaN where an element is not active."""

    def __init__(self, batch: int):
        self.batch, self.rows, self.t = batch, [], []

    def add(self, t: int, active: torch.Tensor, **values: torch.Tensor) -> None:
        row = {"active": active.cpu().clone()}
        for key, v in values.items():
            fill = 0 if v.dtype == torch.uint8 else float("nan")
            full = torch.full((self.batch, *v.shape[1:]), fill, dtype=v.dtype)
            full[active.cpu()] = v.detach().cpu()
            row[key] = full
        self.rows.append(row)
        self.t.append(t)

    def stacked(self, key: str) -> torch.Tensor:
        return torch.stack([row[key] for row in self.rows])


def _target_norms(norms, o: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """r_o per element: from a NormTable, a number or B numbers; None keeps ||c_self||."""
    if norms is None:
        return codes.detach().norm(dim=1).double().cpu()
    if isinstance(norms, NormTable):
        return norms.targets(o).double()
    r = torch.as_tensor(norms, dtype=torch.float64).flatten().cpu()
    if len(r) not in (1, len(o)) or not torch.isfinite(r).all() or (r < 0).any():
        raise ValueError(f"norms must be a NormTable, one non-negative number or {len(o)} of them, "
                         "or None (keep each code's starting norm)")
    return r.expand(len(o)).clone()


def semantic_morph(classifier: nn.Module, vae, self_codes: torch.Tensor, self_class, other_class, *, norms=None,
                   likelihood_weight: float = 0.1, lr: float = 1e-3, max_iter: int = 5000, entropy_stop: float = 0.01,
                   require_argmax: bool = False, scale_decay: float | None = None, record_every: int = 1,
                   thumbnails: bool = True, preprocess: Preprocess = None, progress=None,
                   cancel=None) -> MorphHistory:
    """Semantic Morphing (see the module doc) of B codes at once.

    ``self_codes`` (c_self, d or B x d): the start codes (best-of-K, :func:`reconstruct`);
    ``self_class``/``other_class`` (s/o): the self and target classes (ints or B-vectors).
    ``norms``: the norm target r_o, from a
    :class:`NormTable` (``class_norms`` of the training set: the source thesis's prior), one number or
    B numbers; None keeps each code's starting norm (our fallback when no training data
    is at hand). Defaults are the source thesis's MNIST settings: Adam lr 1e-3, ``likelihood_weight``
    (alpha_lk) 0.1 (10 for notMNIST and FashionMNIST), at most 5,000 iterations, stop when
    H(q_s, q_o) < 0.01 bit and q_o > 0.5 (two-class q, our reading; ``require_argmax`` also
    asks the full softmax's argmax to be o).

    Each iteration evaluates D(c) and the classifier on the still-running elements, updates
    the running loss scales (:class:`LossScale`), records, stops the elements that meet the
    criterion (their code is final) and takes one Adam step for the rest. Elements are
    independent (eval mode, per-coordinate Adam, per-element scales), so a batch gives the
    same result as one run per element, up to rounding: batched and single kernels round
    float32 differently, and Adam's steps amplify that (1.6e-5 seen with AVX-512 kernels).

    Parameters
    ----------
    classifier : torch.nn.Module
        The classifier (B x K logits); it is left as it was.
    vae : torch.nn.Module or tuple
        The VAE (see :func:`~xai_widgets.morph.latent.as_vae`); it is left as it was.
    self_codes : torch.Tensor
        The start codes, the self image's code (c_self in the thesis; d or B x d).
    self_class : int or sequence of int
        The self class (s in the thesis; one int or B ints).
    other_class : int or sequence of int
        The target class, the class morphed towards (o in the thesis; one int or B ints; must
        differ from ``self_class``).
    norms : NormTable, float, sequence of float or None, optional
        The norm target r_o; None (default) keeps each code's starting norm.
    likelihood_weight : float, optional
        Weight of the likelihood (norm) term (alpha_lk in the thesis; >= 0). Default 0.1.
    lr : float, optional
        Adam learning rate (> 0). Default 1e-3.
    max_iter : int, optional
        Most Adam iterations (>= 0). Default 5000.
    entropy_stop : float, optional
        Stop threshold of the two-class entropy in bits, in (0, 1]. Default 0.01.
    require_argmax : bool, optional
        Also require the full softmax's argmax to be o (default False).
    scale_decay : float, optional
        The :class:`LossScale` decay; None (default) for the cumulative mean.
    record_every : int, optional
        Record every this many iterations (>= 1; the last is always recorded). Default 1.
    thumbnails : bool, optional
        Record uint8 thumbnails of the decoded images (default True).
    preprocess : callable, optional
        Applied to images before the classifier; None (default) for none.
    progress : callable, optional
        ``progress(done, max_iter)`` every few iterations; None (default) reports nothing.
    cancel : threading.Event or callable, optional
        Checked before every iteration; when set, raises ``Cancelled``.

    Returns
    -------
    MorphHistory
        Final codes and images, success flags and the trace (CPU tensors).

    Raises
    ------
    ValueError
        If a setting is out of range, a class is invalid, ``other_class`` equals ``self_class``, or
        ``norms`` is invalid.
    """
    vae = as_vae(vae)
    codes = check_codes(self_codes, "self_codes").detach()
    _check_morph_settings(likelihood_weight, lr, max_iter, entropy_stop, record_every)
    dev, vdev = model_device(classifier), model_device(vae)
    B = len(codes)
    c = codes.clone().to(vdev).requires_grad_(True)
    opt = torch.optim.Adam([c], lr=lr)
    scale = LossScale(B, decay=scale_decay, device=vdev)
    trace = _Trace(B)
    final: dict[str, torch.Tensor] = {}
    done = torch.zeros(B, dtype=torch.bool, device=vdev)
    success = torch.zeros(B, dtype=torch.bool)
    iterations = torch.full((B,), max_iter, dtype=torch.long)

    with preserved_models(classifier, vae), torch.enable_grad():
        x0 = decode_on(vae, c[:1].detach(), dev)
        n_classes = classifier_logits(classifier, x0, preprocess).shape[1]
        # s_v, o_v: the self class s and the other class o of each element (B-vectors)
        s_v = class_vector(self_class, B, n_classes, "self_class")
        o_v = class_vector(other_class, B, n_classes, "other_class")
        if (s_v == o_v).any():
            raise ValueError("other_class must differ from self_class for every element (morphing toward the "
                             "class it already has)")
        r_o = _target_norms(norms, o_v, codes)
        s_d, o_d, r_d = s_v.to(vdev), o_v.to(vdev), r_o.to(vdev, c.dtype)
        for t in range(max_iter + 1):
            check(cancel)
            act = (~done).nonzero().squeeze(1)
            ca = c[act]
            x = decode_on(vae, ca, dev)
            logits = classifier_logits(classifier, x, preprocess).to(vdev)
            l_obj = -logits.gather(1, o_d[act, None]).squeeze(1)
            l_lk = (ca.norm(dim=1) - r_d[act]) ** 2
            w = scale.update(l_obj, l_lk, act)
            loss = l_obj + likelihood_weight * w * l_lk
            lg = logits.detach()
            d = lg.gather(1, s_d[act, None]).squeeze(1) + l_obj.detach()  # l_s - l_o
            H = _entropy_bits(d)
            stop = (H < entropy_stop) & (d < 0)  # d < 0 <=> q_o > 0.5
            if require_argmax:
                stop &= lg.argmax(1) == o_d[act]
            ending = stop | (t == max_iter)
            finished = bool(ending.all())
            if t % record_every == 0 or finished:
                row = dict(loss_objective=l_obj, loss_likelihood=l_lk, loss_total=loss, scale=w, trace_logits=lg,
                           trace_probs=lg.softmax(1), trace_entropy=H, trace_norm=ca.norm(dim=1), trace_codes=ca)
                if thumbnails:
                    row["thumbnails"] = to_uint8(x)
                trace.add(t, ~done, **row)
            if finished or bool(ending.any()):
                _keep_final(final, B, act[ending], code=ca[ending], image=x[ending], logits=lg[ending],
                            entropy=H[ending])
                success[act[stop].cpu()] = True
                iterations[act[stop].cpu()] = t
                done[act[ending]] = True
            if t % _REPORT_EVERY == 0 or finished:
                report(progress, t, max_iter)
            if finished:
                break
            (c.grad,) = torch.autograd.grad(loss[~ending].sum(), [c])
            opt.step()

    return MorphHistory(
        code=final["code"], image=final["image"], success=success, iterations=iterations, logits=final["logits"],
        probs=final["logits"].softmax(1), entropy=final["entropy"], s=s_v, o=o_v, target_norm=r_o.float(),
        t=torch.tensor(trace.t), active=trace.stacked("active"),
        loss_objective=trace.stacked("loss_objective"), loss_likelihood=trace.stacked("loss_likelihood"),
        loss_total=trace.stacked("loss_total"), scale=trace.stacked("scale"),
        trace_logits=trace.stacked("trace_logits"), trace_probs=trace.stacked("trace_probs"),
        trace_entropy=trace.stacked("trace_entropy"), trace_norm=trace.stacked("trace_norm"),
        trace_codes=trace.stacked("trace_codes"), thumbnails=trace.stacked("thumbnails") if thumbnails else None,
        settings={"likelihood_weight": likelihood_weight, "lr": lr, "max_iter": max_iter, "entropy_stop": entropy_stop,
                  "require_argmax": require_argmax, "scale_decay": scale_decay, "record_every": record_every,
                  "optimiser": "Adam", "norm_target": norms.target if isinstance(norms, NormTable)
                  else "given" if norms is not None else "start norm"},
    )


def _keep_final(final: dict, batch: int, rows: torch.Tensor, **values: torch.Tensor) -> None:
    """Write the stopping elements' values into B-row CPU tensors (allocated on first use)."""
    rows = rows.cpu()
    for key, v in values.items():
        if key not in final:
            final[key] = torch.zeros((batch, *v.shape[1:]), dtype=v.dtype)
        final[key][rows] = v.detach().cpu()


def _check_morph_settings(likelihood_weight, lr, max_iter, entropy_stop, record_every) -> None:
    if not (isinstance(likelihood_weight, (int, float)) and likelihood_weight >= 0):
        raise ValueError(f"likelihood_weight must be a number >= 0, got {likelihood_weight!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not (isinstance(max_iter, int) and max_iter >= 0):
        raise ValueError(f"max_iter must be an int >= 0, got {max_iter!r}")
    if not (isinstance(entropy_stop, (int, float)) and 0 < entropy_stop <= 1):
        raise ValueError(f"entropy_stop must be in (0, 1] bit, got {entropy_stop!r}")
    if not (isinstance(record_every, int) and record_every >= 1):
        raise ValueError(f"record_every must be an int >= 1, got {record_every!r}")
