"""Long computations (dataset scans, optimisations): cancellation and progress reporting.

A long task takes two optional callables: ``progress(done, total)`` after each step
(``total`` may be ``None`` when unknown) and ``cancel`` (a ``threading.Event``, a
callable returning ``True``, or ``None``) checked between steps. Cancelling raises
:class:`Cancelled` and leaves the model and any cache exactly as they were.
"""
from __future__ import annotations

import threading
from typing import Callable, Union

__all__ = ["Cancelled", "check", "report", "CancelFlag", "Progress"]

CancelFlag = Union[threading.Event, Callable[[], bool], None]
Progress = Union[Callable[[int, "int | None"], None], None]


class Cancelled(Exception):
    """A long computation was cancelled by the user; nothing was changed."""


def check(cancel: CancelFlag) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set."""
    if cancel is None:
        return
    stop = cancel.is_set() if isinstance(cancel, threading.Event) else cancel()
    if stop:
        raise Cancelled("cancelled by the user; the model and caches are unchanged")


def report(progress: Progress, done: int, total: int | None) -> None:
    """Call ``progress(done, total)`` when a callback was given."""
    if progress is not None:
        progress(done, total)
