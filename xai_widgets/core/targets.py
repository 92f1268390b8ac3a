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

__all__ = ["class_label", "prepare_inputs", "model_logits", "resolve_targets", "targets_from_logits", "ContrastiveScore",
           "explanation_pass", "grad_leaf"]


def class_label(classes, k: int) -> str:
    """The name a widget shows for class ``k``.

    Parameters
    ----------
    classes : sequence of str or None
        Class names given by the user, or None.
    k : int
        A class index.

    Returns
    -------
    str
        ``classes[k]`` when names were given and ``k`` is in range, else ``"class k"``.
    """
    k = int(k)
    return str(classes[k]) if classes is not None and 0 <= k < len(classes) else f"class {k}"


def prepare_inputs(model: nn.Module, inputs, *, image: bool = True) -> torch.Tensor:
    """The input batch on the model's device and dtype, detached (never the user's tensor).

    Parameters
    ----------
    model : torch.nn.Module
        The model whose device and dtype are used.
    inputs : torch.Tensor
        A floating-point batch: N x C x H x W when ``image`` is True, else any batch-first tensor with
        at least two dimensions.
    image : bool, default True
        Require an image batch N x C x H x W.

    Returns
    -------
    torch.Tensor
        ``inputs`` detached, on the model's device and in its dtype (it shares storage with
        ``inputs`` when no conversion was needed).

    Raises
    ------
    TypeError
        If ``model`` is not a module, or ``inputs`` is not a float tensor.
    ValueError
        If ``inputs`` has the wrong shape or channel count, is too large, or holds NaN or infinity.
    """
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
    """The model's N x K logits for ``x`` (no grad, training flags kept), or a clear error.

    Parameters
    ----------
    model : torch.nn.Module
        A model whose output holds an N x K logits tensor (see :func:`~xai_widgets.core.outputs.pick`).
    x : torch.Tensor
        The batch, already on the model's device (see :func:`prepare_inputs`); run in eval mode.

    Returns
    -------
    torch.Tensor
        N x K logits on the model's device.

    Raises
    ------
    ValueError
        If the model's output is not an N x K tensor with one row per input.
    """
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

    Parameters
    ----------
    model : torch.nn.Module
        The classifier.
    inputs : torch.Tensor
        A batch-first float tensor of N inputs.
    target : int, sequence of int, torch.Tensor or None, default None
        The class explained for each input.
    contrast : int, sequence of int, torch.Tensor or None, default None
        The class B of class A versus class B, or None.

    Returns
    -------
    tuple of (torch.Tensor, torch.Tensor or None)
        ``(target, contrast)``: N class indices each (int64), ``contrast`` None when not given.

    Raises
    ------
    TypeError, ValueError
        If the inputs are not acceptable, a class is not an integer or out of range [0, K), the
        number of classes given is not N, or ``contrast`` equals ``target`` for some image.
    """
    x = prepare_inputs(model, inputs, image=False)
    out = model_logits(model, x)
    return targets_from_logits(out, target, contrast)


def targets_from_logits(out: torch.Tensor, target, contrast) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`resolve_targets` from logits already computed (N x K).

    Parameters
    ----------
    out : torch.Tensor
        N x K logits.
    target : int, sequence of int, torch.Tensor or None
        None (each row's argmax), one class for all rows, or N classes.
    contrast : int, sequence of int, torch.Tensor or None
        None or the same forms; must differ from ``target`` in every row.

    Returns
    -------
    tuple of (torch.Tensor, torch.Tensor or None)
        ``(target, contrast)`` as int64 tensors of N class indices on ``out``'s device.

    Raises
    ------
    TypeError
        If a class is a bool or not an integer.
    ValueError
        If a class is out of range [0, K), the count is not N, or ``contrast`` equals ``target``.
    """
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

    Parameters
    ----------
    model : torch.nn.Module
        The classifier, held as the child ``model``.

    Attributes
    ----------
    model : torch.nn.Module
        The wrapped classifier.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, a, b=None):
        """The score of class ``a`` (minus that of class ``b``) for each input.

        Parameters
        ----------
        x : torch.Tensor
            N inputs, batch first.
        a : torch.Tensor
            N int64 class indices (reshaped to N x 1).
        b : torch.Tensor or None, default None
            N int64 class indices to subtract, or None.

        Returns
        -------
        torch.Tensor
            N x 1 scores.
        """
        out = pick(self.model(x))
        score = out.gather(1, a.reshape(-1, 1))
        if b is not None:
            score = score - out.gather(1, b.reshape(-1, 1))
        return score


@contextlib.contextmanager
def explanation_pass(model: nn.Module):
    """Training flags restored, no new .grad, grad enabled (even inside a user's no_grad).

    Parameters
    ----------
    model : torch.nn.Module
        The model, put in eval mode and locked for the block (see
        :func:`~xai_widgets.core.capture.preserved_model`).

    Yields
    ------
    None
    """
    with preserved_model(model, eval_mode=True), torch.enable_grad():
        yield


def grad_leaf(x: torch.Tensor) -> torch.Tensor:
    """A private copy of ``x`` to differentiate against (the user's tensor is never touched).

    Parameters
    ----------
    x : torch.Tensor
        The input.

    Returns
    -------
    torch.Tensor
        A detached clone of ``x`` with ``requires_grad=True``.
    """
    return x.detach().clone().requires_grad_(True)
