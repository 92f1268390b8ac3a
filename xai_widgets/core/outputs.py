"""Which part of a model's output holds the logits.

Most classifiers return an N x K tensor. Some return more: torchvision's GoogLeNet and
Inception in train mode return named tuples with auxiliary logits, Hugging Face models
return ``ModelOutput`` objects (dict-like, with a ``logits`` field), detection-style
wrappers return dicts. ``output=`` on every function and widget that reads predictions
says which part to use: an index (``output=0``), a key or attribute name
(``output="logits"``), or a callable (``output=lambda out: out.logits[:, :10]``).
Without ``output=``, a tensor is used as it is and an object with a ``logits`` field
(the Hugging Face convention) gives that field; anything else raises an error that
shows what the model returned and how to choose.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["pick", "Logits", "with_output"]

OutputSpec = int | str | Callable | None


def _describe(out) -> str:
    if isinstance(out, torch.Tensor):
        return f"a tensor of shape {tuple(out.shape)}"
    if isinstance(out, Mapping):
        return f"a {type(out).__name__} with keys {list(out)[:8]}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} items"
    return f"a {type(out).__name__}"


def pick(out: Any, output: OutputSpec = None) -> torch.Tensor:
    """The logits in a model's output ``out`` (see the module doc for ``output``).

    Parameters
    ----------
    out : object
        What the model returned: a tensor, a tuple or list, a mapping, or an object with attributes
        (such as a Hugging Face ``ModelOutput``).
    output : int, str, callable or None, default None
        An index into a tuple or list, a key or attribute name, or a callable ``output(out)``
        returning the tensor. ``None`` uses a tensor as it is, else the ``logits`` key or attribute.

    Returns
    -------
    torch.Tensor
        The picked tensor, as it is (its shape is not checked here).

    Raises
    ------
    TypeError
        If ``output`` is a bool or of any other unsupported type.
    ValueError
        If ``out`` has no such item, key or attribute, if ``output=None`` finds no logits tensor, or
        if what was picked is not a tensor.
    """
    if callable(output):
        picked = output(out)
    elif isinstance(output, bool):
        raise TypeError("output must be an index, a key or a callable, got a bool")
    elif isinstance(output, int):
        if not isinstance(out, (tuple, list)) or not -len(out) <= output < len(out):
            raise ValueError(f"output={output}: the model returned {_describe(out)}, which has no item {output}")
        picked = out[output]
    elif isinstance(output, str):
        if isinstance(out, Mapping) and output in out:
            picked = out[output]
        elif hasattr(out, output):
            picked = getattr(out, output)
        else:
            raise ValueError(f"output={output!r}: the model returned {_describe(out)}, which has no {output!r}")
    elif output is None:
        if isinstance(out, torch.Tensor):
            return out
        logits = out.get("logits") if isinstance(out, Mapping) else getattr(out, "logits", None)
        if isinstance(logits, torch.Tensor):
            return logits
        raise ValueError(
            f"the model returned {_describe(out)}, not a logits tensor. Say which part holds the logits with "
            "output=: an index (output=0), a key or attribute name (output='logits') or a callable "
            "(output=lambda out: out[0])"
        )
    else:
        raise TypeError(f"output must be None, an index, a key or a callable, got {type(output).__name__}")
    if not isinstance(picked, torch.Tensor):
        raise ValueError(f"output={output!r} picked {_describe(picked)} from the model's output; it must pick "
                         "the logits tensor")
    return picked


class Logits(nn.Module):
    """``model`` seen through ``output=``: its forward returns the logits tensor only.

    Holding the user's model as a child changes nothing in it. Layer names inside stay
    reachable as ``logits.model.<name>``; :func:`with_output` returns the model itself
    when it already returns a tensor, so names are unchanged in the common case.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model, held as the child ``model``.
    output : int, str or callable
        Which part of the model's output holds the logits (see :func:`pick`).

    Attributes
    ----------
    model : torch.nn.Module
        The wrapped model.
    output : int, str or callable
        The ``output=`` given.
    """

    def __init__(self, model: nn.Module, output: OutputSpec):
        super().__init__()
        self.model = model
        self.output = output

    def forward(self, *args, **kwargs):
        """Run the model and return its logits.

        Parameters
        ----------
        *args, **kwargs
            Passed to the wrapped model unchanged.

        Returns
        -------
        torch.Tensor
            ``pick(model(*args, **kwargs), output)``.
        """
        return pick(self.model(*args, **kwargs), self.output)


def with_output(model: nn.Module, output: OutputSpec) -> nn.Module:
    """``model`` itself when ``output`` is None, else a :class:`Logits` view of it.

    Parameters
    ----------
    model : torch.nn.Module
        The user's model (never modified).
    output : int, str, callable or None
        Which part of the model's output holds the logits (see :func:`pick`).

    Returns
    -------
    torch.nn.Module
        ``model`` when ``output`` is None, else ``Logits(model, output)``.

    Raises
    ------
    TypeError
        If ``output`` is not None, an int, a str or a callable, or is a bool.
    """
    if output is None:
        return model
    if not (callable(output) or isinstance(output, (int, str))) or isinstance(output, bool):
        raise TypeError(f"output must be None, an index, a key or a callable, got {output!r:.80}")
    return Logits(model, output)
