"""RISE: randomized input sampling for explanation (Petsiuk, Das and Saenko, BMVC 2018).

A black-box method: it needs only the model's class probabilities. Each of N random masks keeps
a random subset of a coarse s x s grid of cells (each cell kept with probability p), upsampled
bilinearly to a smooth mask and shifted by a random offset smaller than a cell (section 3.2).
The saliency of a pixel is the mean class probability of the masked images, weighted by how much
each mask kept of that pixel, divided by p (Eq. 6):

    S(lambda) = 1 / (E[M] N) * sum_i f(I * M_i) M_i(lambda).

The paper's defaults: s = 7 cells, p = 0.5, N = 4000 masks (section 4.1); masked-out pixels are
0 (``fill``). With a contrast class B, f is p_target - p_B of the masked image.

S is positive everywhere and close to the mean masked score: what matters is how far a pixel
lies above or below it. By default (``centre=True``) the map is S minus what the same masks give
when the score does not depend on them, mean_i f(I * M_i) x sum_i M_i(lambda) / (E[M] N): signed,
0 where keeping the pixel makes no difference (exactly 0 for a model that ignores its input),
so that it reads on the diverging scale of the other maps. ``centre=False`` gives Eq. 6 as printed.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.capture import preserved_model
from ..core.outputs import pick
from ..core.tasks import CancelFlag, Progress, check, report
from ..core.targets import prepare_inputs, resolve_targets

__all__ = ["rise", "rise_masks", "rise_partial_sums"]


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def rise_masks(grids: torch.Tensor, shifts: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Smooth masks from binary cell grids: upsampled bilinearly, shifted, cropped (Petsiuk et al. 2018, section 3.2).

    Parameters
    ----------
    grids : torch.Tensor
        M x s x s binary grids (float).
    shifts : torch.Tensor
        M x 2 integer offsets (dy, dx), each in [0, cell size).
    size : tuple of (int, int)
        The image's (H, W).

    Returns
    -------
    torch.Tensor
        M x H x W masks in [0, 1]: the grid upsampled to (s + 1) cells of ceil(H / s) x ceil(W / s)
        pixels, then the H x W window starting at the shift.
    """
    (h, w), s = size, grids.shape[-1]
    ch, cw = math.ceil(h / s), math.ceil(w / s)
    big = F.interpolate(grids[:, None], size=((s + 1) * ch, (s + 1) * cw), mode="bilinear", align_corners=False)[:, 0]
    rows = shifts[:, :1] + torch.arange(h, device=grids.device)  # M x H
    cols = shifts[:, 1:] + torch.arange(w, device=grids.device)  # M x W
    return big[torch.arange(len(grids), device=grids.device)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _draws(n_masks: int, cells: int, keep: float, size, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All grids and shifts, drawn on the CPU from one seed (the same masks on every device and batch size)."""
    gen = torch.Generator().manual_seed(int(seed))
    grids = (torch.rand(n_masks, cells, cells, generator=gen) < keep).float()
    ch, cw = math.ceil(size[0] / cells), math.ceil(size[1] / cells)
    shifts = torch.stack([torch.randint(0, ch, (n_masks,), generator=gen),
                          torch.randint(0, cw, (n_masks,), generator=gen)], 1)
    return grids, shifts


def rise_partial_sums(model: nn.Module, x: torch.Tensor, target: torch.Tensor, contrast: torch.Tensor | None, *,
                      masks: int = 4000, cells: int = 7, keep: float = 0.5, fill: float = 0.0, batch_size: int = 64,
                      seed: int = 0, centre: bool = True, counts=None, progress: Progress = None,
                      cancel: CancelFlag = None) -> tuple[list[int], torch.Tensor]:
    """RISE saliency after the first ``counts`` masks of one draw (for a convergence slider).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, used inside ``preserved_model`` in eval mode.
    x : torch.Tensor
        N x C x H x W prepared batch (on the model's device and dtype).
    target, contrast : torch.Tensor
        Resolved class indices (contrast may be None).
    masks, cells, keep, fill, batch_size, seed, centre
        As :func:`rise`.
    counts : sequence of int or None, default None
        Mask counts at which to report the saliency (each in 1..masks); None: ``[masks]``.

    Returns
    -------
    list of int, torch.Tensor
        The sorted counts, and N x len(counts) x H x W saliency maps (float32).

    Raises
    ------
    ValueError
        For a setting out of range.
    """
    _positive_int(masks, "masks")
    _positive_int(cells, "cells")
    _positive_int(batch_size, "batch_size")
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise ValueError(f"keep must be a probability in (0, 1], got {keep!r}")
    counts = sorted({int(c) for c in (counts or [masks])})
    if not 1 <= counts[0] <= counts[-1] <= masks:
        raise ValueError(f"counts must lie in 1..{masks} (the number of masks), got {counts}")
    size = tuple(x.shape[-2:])
    grids, shifts = _draws(masks, cells, keep, size, seed)
    n = x.shape[0]
    total = torch.zeros(n, *size, device=x.device, dtype=torch.float32)
    coverage = torch.zeros(*size, device=x.device, dtype=torch.float32)  # sum_i M_i
    score_sum = torch.zeros(n, device=x.device, dtype=torch.float32)  # sum_i f(I * M_i)
    out = torch.empty(n, len(counts), *size, device=x.device, dtype=torch.float32)
    rows = torch.arange(n, device=x.device)
    done, at = 0, 0
    with preserved_model(model, eval_mode=True), torch.no_grad():
        while done < masks:
            check(cancel)
            stop = min(masks, done + batch_size, next(c for c in counts if c > done))
            m = rise_masks(grids[done:stop].to(x.device), shifts[done:stop].to(x.device), size)  # B x H x W
            mm = m[None, :, None].to(x.dtype)  # 1 x B x 1 x H x W
            masked = (x[:, None] * mm + fill * (1 - mm)).flatten(0, 1)  # (N B) x C x H x W
            probs = pick(model(masked)).float().softmax(1).view(n, stop - done, -1)
            score = probs[rows, :, target]  # N x B
            if contrast is not None:
                score = score - probs[rows, :, contrast]
            total += torch.einsum("nb,bhw->nhw", score, m.float())
            coverage += m.float().sum(0)
            score_sum += score.sum(1)
            done = stop
            if done == counts[at]:
                saliency = total / (keep * done)
                if centre:
                    saliency = saliency - (score_sum / done)[:, None, None] * coverage / (keep * done)
                out[:, at] = saliency
                at += 1
            report(progress, done, masks)
    return counts, out


def rise(model: nn.Module, inputs: torch.Tensor, target=None, *, contrast=None, masks: int = 4000, cells: int = 7,
         keep: float = 0.5, fill: float = 0.0, batch_size: int = 64, seed: int = 0, centre: bool = True,
         progress: Progress = None, cancel: CancelFlag = None) -> torch.Tensor:
    """RISE saliency maps (Petsiuk, Das and Saenko, BMVC 2018, Eq. 6).

    Parameters
    ----------
    model : torch.nn.Module
        The classifier (returns N x K logits; RISE uses their softmax); left exactly as it was.
    inputs : torch.Tensor
        N x C x H x W float batch.
    target : None, int, sequence of int or 1-D tensor, optional
        The class explained: None (default) is each image's top-1 prediction.
    contrast : None, int, sequence of int or 1-D tensor, optional
        Class B: the score becomes p_target - p_B of each masked image.
    masks : int, default 4000
        N, the number of random masks.
    cells : int, default 7
        s, the grid of s x s cells each mask is drawn on.
    keep : float, default 0.5
        p, the probability that a cell is kept.
    fill : float, default 0.0
        The value of masked-out pixels (the paper multiplies by the mask: 0).
    batch_size : int, default 64
        Masks per forward pass (each pass holds N x batch_size images).
    seed : int, default 0
        Seed of the masks (drawn on the CPU, so every device gives the same masks).
    centre : bool, default True
        Subtract what the masks give when the score ignores them (see the module's docstring);
        False: Eq. 6 as printed.
    progress : callable, optional
        ``progress(done, total)`` after each batch of masks.
    cancel : threading.Event or callable, optional
        Checked before each batch.

    Returns
    -------
    torch.Tensor
        N x H x W saliency maps (float32, on the model's device): with ``centre=False`` the
        expected class probability when the pixel is kept (up to the factor 1 / p); by default
        that minus the mean masked score weighted by the pixel's mask coverage.

    Raises
    ------
    ValueError
        For a setting out of range or a bad input batch.
    """
    x = prepare_inputs(model, inputs)
    t, c = resolve_targets(model, x, target, contrast)
    return rise_partial_sums(model, x, t, c, masks=masks, cells=cells, keep=keep, fill=fill, batch_size=batch_size,
                             seed=seed, centre=centre, progress=progress, cancel=cancel)[1][:, 0]
