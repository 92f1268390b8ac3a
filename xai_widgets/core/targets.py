"""What an explanation explains: the input batch as the model takes it, the classes asked
about (``target``, and ``contrast`` for class A versus class B), and the score.

Every attribution method (gradients, LRP, perturbations) and the metrics resolve their
targets here, so one rule holds everywhere: ``target=None`` is each image's top-1
prediction, an int is one class for every image, a sequence gives one class per image.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from .capture import model_device, model_dtype, preserved_model
from .images import check_model_input
from .outputs import pick

__all__ = ["prepare_inputs", "model_logits", "resolve_targets", "targets_from_logits", "ContrastiveScore",
           "explanation_pass", "grad_leaf"]


def prepare_inputs(model: nn.Module, inputs, *, image: bool = True) -> torch.Tensor:
    """The input batch on the model's device and dtype, detached (never the user's tensor)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_model_input(inputs, model, "this method", image=image)
    if not image and inputs.dim() < 2:
        raise ValueError(f"inputs must be batch-first (N x ...), got shape {tuple(inputs.shape)}")
    if not inputs.is_floating_point():
        raise TypeError(f"inputs must be a float tensor, got dtype {inputs.dtype}; convert uint8 images with "
                        "xw.to_batch(images, model), or x.float() / 255")
    return inputs.detach().to(device=model_device(model), dtype=model_dtype(model))


def _class_indices(value, n: int, k: int, what: str) -> torch.Tensor:
    """``value`` (an int, or N ints) as N class indices in [0, k), with errors naming ``what``."""
    if isinstance(value, bool) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
        raise TypeError(f"{what} must be an int or a sequence of ints, got a bool")
    if isinstance(value, int) or (hasattr(value, "__index__") and not hasattr(value, "__len__")):
        t = torch.full((n,), int(value), dtype=torch.long)
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{what} must be None, an int, or a sequence / 1-D tensor of {n} ints; got {value!r}"
            ) from err
        if t.dim() == 0:
            t = t.reshape(1).expand(n)
        if t.dim() != 1 or t.shape[0] != n:
            raise ValueError(
                f"{what} must be an int or one class per image ({n} values); got shape {tuple(t.shape)}"
            )
        if t.is_floating_point() or t.dtype == torch.bool:
            if t.is_floating_point() and torch.equal(t, t.round()):
                t = t.long()
            else:
                raise TypeError(f"{what} must hold integer class indices, got dtype {t.dtype}")
        t = t.long().cpu()
    bad = (t < 0) | (t >= k)
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(
            f"{what} {int(t[i])} (image {i}) is out of range: the model has {k} outputs, "
            f"so classes are 0..{k - 1}"
        )
    return t


def model_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's N x K logits for ``x`` (no grad, training flags kept), or a clear error."""
    with preserved_model(model, eval_mode=True), torch.no_grad():
        out = pick(model(x))
    if out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the model must return logits of shape N x K (here N = {x.shape[0]}), got {shape}"
        )
    return out


def resolve_targets(model: nn.Module, inputs: torch.Tensor, target=None, contrast=None,
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Resolve ``target`` and ``contrast`` to LongTensors of N class indices (model's device).

    ``target``: None (each image's top-1 prediction), an int (all images), or a sequence /
    1-D tensor of N ints. ``contrast``: None or the same forms. One forward pass (no grad)
    gives the number of classes K (for the range check) and the top-1 predictions.
    """
    x = prepare_inputs(model, inputs, image=False)
    out = model_logits(model, x)
    return targets_from_logits(out, target, contrast)


def targets_from_logits(out: torch.Tensor, target, contrast) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`resolve_targets` from logits already computed (N x K)."""
    n, k = out.shape
    device = out.device
    if target is None:
        t = out.argmax(1).long()
    else:
        t = _class_indices(target, n, k, "target").to(device)
    c = None
    if contrast is not None:
        c = _class_indices(contrast, n, k, "contrast").to(device)
        same = (c == t)
        if bool(same.any()):
            i = int(same.nonzero()[0])
            raise ValueError(
                f"contrast equals target ({int(t[i])}) for image {i}: class A versus class B needs "
                "two different classes"
            )
    return t, c


class ContrastiveScore(nn.Module):
    """The score a method explains, as a one-output model: ``forward(x, a, b=None)``.

    Returns ``logit[a]`` (or ``logit[a] - logit[b]``, class A versus class B) per image as
    an N x 1 tensor, so every Captum method explains output 0. ``a`` and ``b`` travel as
    Captum's ``additional_forward_args``, which Captum expands in step with the inputs
    (IG steps, NoiseTunnel samples, occlusion windows). Holding ``model`` as a child does
    not change it.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, a, b=None):
        out = pick(self.model(x))
        score = out.gather(1, a.reshape(-1, 1))
        if b is not None:
            score = score - out.gather(1, b.reshape(-1, 1))
        return score


@contextlib.contextmanager
def explanation_pass(model: nn.Module):
    """Training flags restored, no new .grad, grad enabled (even inside a user's no_grad)."""
    with preserved_model(model, eval_mode=True), torch.enable_grad():
        yield


def grad_leaf(x: torch.Tensor) -> torch.Tensor:
    """A private copy of ``x`` to differentiate against (the user's tensor is never touched)."""
    return x.detach().clone().requires_grad_(True)
