"""Put a model back exactly as it was given when code that modifies it fails part-way.

Some explanation methods change the model for the duration of a call. LRP's canonizers
(zennit; Anders et al. 2021, "Software for dataset-wide XAI") fold batch norm into the
layer before it by rewriting weights in place, add bias parameters to layers that had
none, replace a block's ``forward`` and add modules, and the composite attaches hooks to
every layer. On a clean exit they undo all of that; an exception part-way (zennit's
batch-norm merge raising on a DenseNet, after it has already merged some layers) skips
the undo and leaves the user's model corrupted: different weights, extra parameters,
hooks still attached, a forward that no longer runs.

:func:`rollback_on_error` snapshots what such code can change and, if the body raises,
restores it. On success it restores and checks nothing (the body's own clean-up is
trusted); the only cost is the snapshot, one copy of the parameters and buffers on their
own device.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

__all__ = ["rollback_on_error"]


class _TensorState:
    """A parameter's or buffer's values, storage, ``requires_grad`` and ``.grad``."""

    def __init__(self, t: torch.Tensor):
        self.tensor = t
        self.data = t.data  # the storage itself: restored into it, so user views stay valid
        self.values = t.detach().clone()
        self.requires_grad = t.requires_grad
        self.grad = t.grad if t.is_leaf else None
        self.grad_values = None if self.grad is None else self.grad.detach().clone()

    def restore(self) -> None:
        t = self.tensor
        with torch.no_grad():
            t.data = self.data  # undoes `t.data = new` (zennit's merge swaps .data)
            self.data.copy_(self.values)  # undoes in-place writes
            if t.requires_grad != self.requires_grad:
                t.requires_grad_(self.requires_grad)
            if t.is_leaf:
                t.grad = self.grad  # drops a .grad the body created
                if self.grad is not None:
                    self.grad.copy_(self.grad_values)


def _attributes(module: nn.Module) -> dict:
    """The instance ``__dict__`` shallowly: each value, plus a copy of the contents of the
    dicts and sets in it (``_parameters``, ``_buffers``, ``_modules``, every hook dict of
    whatever this torch version has), which are restored in place so that hook handles and
    other references to those containers stay valid."""
    return {k: (v, v.copy() if isinstance(v, (dict, set)) else None) for k, v in vars(module).items()}


def _restore_attributes(module: nn.Module, saved: dict) -> None:
    d = vars(module)
    for key in [k for k in d if k not in saved]:
        del d[key]  # added by the body: an instance-level ``forward``, a new submodule, ...
    for key, (value, contents) in saved.items():
        d[key] = value  # ``training`` and any replaced attribute
        if contents is not None:
            value.clear()
            value.update(contents)


@contextlib.contextmanager
def rollback_on_error(model: nn.Module) -> Iterator[nn.Module]:
    """Restore ``model`` if the body raises (any exception, KeyboardInterrupt included).

    Restored, for every module in ``model`` at entry: its parameters and buffers (the same
    objects, no entries added or removed), submodules, hooks (forward, pre-forward, backward,
    state-dict, ...), ``training`` flag and instance attributes (an instance ``forward``
    set by hook machinery is removed); for every parameter and buffer: its values (copied
    back into the original storage), ``requires_grad`` and ``.grad`` (a new one is dropped).
    Not covered: plain tensor attributes that are not registered as buffers, and global
    state (torch's global module hooks).

    Parameters
    ----------
    model : torch.nn.Module
        The model to protect; a snapshot of its parameters and buffers (one copy, on their own
        device) is taken on entry.

    Yields
    ------
    torch.nn.Module
        ``model`` itself.

    Raises
    ------
    BaseException
        Whatever the body raised, re-raised after the model is restored. On a clean exit nothing
        is restored or checked.
    """
    modules = list(model.modules())
    attributes = [(m, _attributes(m)) for m in modules]
    tensors: dict[int, _TensorState] = {}
    for m in modules:
        for t in [*m._parameters.values(), *m._buffers.values()]:
            if t is not None and id(t) not in tensors:  # tied weights once
                tensors[id(t)] = _TensorState(t)
    try:
        yield model
    except BaseException:
        for m, saved in attributes:
            _restore_attributes(m, saved)
        for state in tensors.values():
            state.restore()
        raise
