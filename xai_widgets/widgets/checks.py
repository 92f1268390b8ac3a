"""One validation layer for every widget trait: typed traits that refuse bad values
themselves, and :func:`validates` for checks that depend on the widget's data.

A bad value, sent by the browser or assigned in Python, must raise ``TraitError`` and
nothing else: traitlets keeps the previous value only then (inside
``hold_trait_notifications``, which ipywidgets uses for browser updates, it rolls back on
``TraitError`` alone, so a ``ValueError`` from a check would leave the bad value in place
and notify observers with it). :class:`~.base.XaiWidget` shows the refusal in ``message``.

Python's ``True`` is an ``int`` and ``float("nan")`` a ``float``; traitlets' ``Int`` and
``Float`` accept both. The traits here do not.
"""
from __future__ import annotations

import functools
import math
import numbers

import numpy as np
import traitlets

__all__ = ["Refused", "Index", "Real", "Choice", "Fraction", "Span", "PanelSize", "validates", "is_index", "index_in",
           "at_least", "print_scale"]


class Refused(traitlets.TraitError, ValueError):
    """A refused value: a ``TraitError`` for traitlets (the old value stays) and a
    ``ValueError`` for Python callers of the methods that share these checks.

    Parameters
    ----------
    *args
        As for ``Exception``: usually one string, the message saying what was refused
        and what is accepted.
    """


def is_index(value) -> bool:
    """An integer that is not a bool.

    Parameters
    ----------
    value : object
        Any value.

    Returns
    -------
    bool
        True for a Python ``int`` or a NumPy integer, False for anything else, including
        ``bool`` and ``numpy.bool_``.
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_finite_number(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value))


def _bounds(lo, hi, fmt=str) -> str:
    if lo is not None and hi is not None:
        return f" in [{fmt(lo)}, {fmt(hi)}]"
    if lo is not None:
        return f" >= {fmt(lo)}"
    return f" <= {fmt(hi)}" if hi is not None else ""


class Index(traitlets.Int):
    """An integer (never a bool), optionally within ``[min, max]``.

    Parameters
    ----------
    default_value : int, optional
        The trait's default (traitlets' default for ``Int``, 0, when left out).
    allow_none : bool, optional
        Whether None is accepted as well. Default False.
    min, max : int, optional
        Inclusive bounds, passed as keywords; None (the default) leaves that side open.
    **kwargs
        Any other keyword of ``traitlets.Int`` (``read_only``, ``help``, ...).
    """

    def validate(self, obj, value):
        """Accept an integer within the bounds, or refuse it.

        Parameters
        ----------
        obj : traitlets.HasTraits
            The object that owns the trait.
        value : object
            The proposed value.

        Returns
        -------
        int
            ``value`` as a Python ``int``.

        Raises
        ------
        Refused
            If ``value`` is not an integer (a bool is not), or lies outside ``[min, max]``.
        """
        if not is_index(value) or (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max):
            raise Refused(f"{self.name} must be an integer{_bounds(self.min, self.max)}, got {value!r:.80}")
        return int(value)


class Real(traitlets.Float):
    """A finite number (never a bool, NaN or infinity), optionally within ``[min, max]``.

    Parameters
    ----------
    default_value : float, optional
        The trait's default (traitlets' default for ``Float``, 0.0, when left out).
    allow_none : bool, optional
        Whether None is accepted as well. Default False.
    min, max : float, optional
        Inclusive bounds, passed as keywords; None (the default) leaves that side open.
    **kwargs
        Any other keyword of ``traitlets.Float`` (``read_only``, ``help``, ...).
    """

    def validate(self, obj, value):
        """Accept a finite number within the bounds, or refuse it.

        Parameters
        ----------
        obj : traitlets.HasTraits
            The object that owns the trait.
        value : object
            The proposed value: a Python or NumPy integer or float.

        Returns
        -------
        float
            ``value`` as a Python ``float``.

        Raises
        ------
        Refused
            If ``value`` is not a number, is a bool, NaN or infinite, or lies outside
            ``[min, max]``.
        """
        if not _is_finite_number(value) or (self.min is not None and value < self.min) or (
                self.max is not None and value > self.max):
            raise Refused(f"{self.name} must be a finite number{_bounds(self.min, self.max, '{:g}'.format)}, "
                          f"got {value!r:.80}")
        return float(value)


class Choice(traitlets.Enum):
    """One of the listed strings.

    Parameters
    ----------
    values : sequence of str
        The accepted strings.
    default_value : str, optional
        The trait's default, one of ``values``.
    **kwargs
        Any other keyword of ``traitlets.Enum`` (``allow_none``, ``read_only``, ``help``, ...).
    """

    def validate(self, obj, value):
        """Accept one of the listed strings, or refuse the value.

        Parameters
        ----------
        obj : traitlets.HasTraits
            The object that owns the trait.
        value : object
            The proposed value.

        Returns
        -------
        str
            ``value`` unchanged.

        Raises
        ------
        Refused
            If ``value`` is not a string or not one of ``values``.
        """
        if not isinstance(value, str) or value not in self.values:
            raise Refused(f"{self.name} must be one of {', '.join(map(repr, self.values))}, got {value!r:.80}")
        return value


def Fraction(default: float) -> Real:
    """A finite number in [0, 1] (opacities, boosts).

    Parameters
    ----------
    default : float
        The trait's default value, in [0, 1].

    Returns
    -------
    Real
        A trait with ``min=0.0`` and ``max=1.0``.
    """
    return Real(default, min=0.0, max=1.0)


def PanelSize(default: int) -> Index:
    """A panel's side in CSS pixels: at least 32 (smaller shows nothing legible), at most 2048.

    Parameters
    ----------
    default : int
        The trait's default value, in CSS pixels, in [32, 2048].

    Returns
    -------
    Index
        A trait with ``min=32`` and ``max=2048``.
    """
    return Index(default, min=32, max=2048)


class Span(traitlets.List):
    """``[lo, hi]``: two finite numbers with ``lo < hi`` (a colour scale's range).

    Parameters
    ----------
    default : sequence of two float, optional
        The default ``[lo, hi]``. Default ``(0.0, 1.0)``.
    **kwargs
        Any other keyword of ``traitlets.List`` (``allow_none``, ``read_only``, ``help``, ...).
    """

    info_text = "[lo, hi], two finite numbers with lo < hi"

    def __init__(self, default=(0.0, 1.0), **kwargs):
        super().__init__(Real(), default_value=list(default), minlen=2, maxlen=2, **kwargs)

    def validate(self, obj, value):
        """Accept two finite numbers in increasing order, or refuse the value.

        Parameters
        ----------
        obj : traitlets.HasTraits
            The object that owns the trait.
        value : object
            The proposed value: a list (or tuple) of two numbers.

        Returns
        -------
        list of float
            ``[lo, hi]``.

        Raises
        ------
        traitlets.TraitError
            If ``value`` is not a list of exactly two finite numbers (each element is
            checked by :class:`Real`, which raises :class:`Refused`).
        Refused
            If ``lo < hi`` does not hold.
        """
        value = super().validate(obj, value)
        if not value[0] < value[1]:
            raise Refused(f"{self.name} must be [lo, hi] with lo < hi, got {value}")
        return value


def validates(*names: str):
    """Like ``traitlets.validate``, but whatever the check raises reaches traitlets as a
    ``TraitError`` (:class:`Refused`) naming the trait, so the previous value is always kept.

    Parameters
    ----------
    *names : str
        The names of the traits the decorated check validates.

    Returns
    -------
    callable
        A decorator for a method ``check(widget, proposal)`` that returns the accepted
        value. A ``TraitError`` from the check passes through; a ``ValueError``,
        ``TypeError``, ``KeyError``, ``IndexError`` or ``AttributeError`` is raised again as
        :class:`Refused`, its message prefixed with the trait's name.
    """

    def wrap(check):
        @functools.wraps(check)
        def checked(widget, proposal):
            try:
                return check(widget, proposal)
            except traitlets.TraitError:
                raise
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                raise Refused(f"{proposal['trait'].name}: {exc}") from None

        checked.refuses_with_trait_error = True
        return traitlets.validate(*names)(checked)

    return wrap


def at_least(name: str, value, minimum: int = 1) -> int:
    """A constructor's integer argument (a budget, a count) as an int, or :class:`Refused`.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
        The value given.
    minimum : int, optional
        The smallest accepted value. Default 1.

    Returns
    -------
    int
        ``value`` as a Python ``int``.

    Raises
    ------
    Refused
        If ``value`` is not an integer (a bool is not) or is below ``minimum``.
    """
    if not is_index(value) or value < minimum:
        raise Refused(f"{name} must be an integer >= {minimum}, got {value!r:.80}")
    return int(value)


def print_scale(value) -> float:
    """``render_png``'s ``scale=`` (a multiple of every length) as a float, or :class:`Refused`.

    Parameters
    ----------
    value : object
        The value given for ``scale``.

    Returns
    -------
    float
        ``value`` as a Python ``float``.

    Raises
    ------
    Refused
        If ``value`` is not a real number (a bool is not), is not finite, or lies outside
        [0.25, 8].
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or not 0.25 <= value <= 8:
        raise Refused(f"scale must be a number in [0.25, 8] (a multiple of the default size), got {value!r:.40}")
    return float(value)


def index_in(name: str, value, n: int, what: str = "an index") -> int:
    """``value`` as an int in ``0..n-1``, or :class:`Refused` saying what is accepted.

    Parameters
    ----------
    name : str
        The argument's name, for the message.
    value : object
        The value given.
    n : int
        The number of valid indices; 0 means there is none to choose.
    what : str, optional
        How the message names an accepted value. Default ``"an index"``.

    Returns
    -------
    int
        ``value`` as a Python ``int``.

    Raises
    ------
    Refused
        If ``value`` is not an integer (a bool is not) or is not in ``0..n-1``.
    """
    accepted = f"{what} in 0..{n - 1}" if n else f"{what}, but there is none"
    if not is_index(value):
        raise Refused(f"{name} must be {accepted} (an integer), got {value!r:.80}")
    if not 0 <= value < n:
        raise Refused(f"{name} {value} is out of range: must be {accepted}")
    return int(value)
