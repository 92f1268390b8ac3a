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
    """A long computation was cancelled by the user; nothing was changed.

    Raised by :func:`check` between the steps of a long task.

    Parameters
    ----------
    *args : object
        The message, as for any exception (:func:`check` says that the model and caches are unchanged).
    """


def check(cancel: CancelFlag) -> None:
    """Raise :class:`Cancelled` when ``cancel`` is set.

    Parameters
    ----------
    cancel : threading.Event, callable or None
        A ``threading.Event`` (cancel once it is set), a callable with no arguments (cancel when it
        returns a true value) or ``None`` (never cancel).

    Returns
    -------
    None

    Raises
    ------
    Cancelled
        When the event is set or the callable returns a true value.
    """
    if cancel is None:
        return
    stop = cancel.is_set() if isinstance(cancel, threading.Event) else cancel()
    if stop:
        raise Cancelled("cancelled by the user; the model and caches are unchanged")


def report(progress: Progress, done: int, total: int | None) -> None:
    """Call ``progress(done, total)`` when a callback was given.

    Parameters
    ----------
    progress : callable or None
        ``progress(done, total)``; ``None`` does nothing.
    done : int
        Steps finished so far.
    total : int or None
        Steps in all, or ``None`` when unknown.

    Returns
    -------
    None
    """
    if progress is not None:
        progress(done, total)
