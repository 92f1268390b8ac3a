"""What :class:`~xai_widgets.widgets.attribution.AttributionExplorer` accepts, with errors that
say what to pass: at construction the methods, their options and the contrast classes
("A vs B"); later the classes and slider positions the browser (or a user) sets."""
from __future__ import annotations

import importlib.util
from typing import Callable, Sequence

import numpy as np
import torch

from ..attribution import methods as attribution
from ..core import targets
from .checks import Refused, index_in


def method_list(methods) -> list[tuple[str, object]]:
    """The methods as (key, method) pairs, in column order.

    Parameters
    ----------
    methods : str, Captum object or sequence of them
        Names from :data:`xai_widgets.attribution.METHOD_NAMES` and/or Captum attribution
        objects (anything with ``.attribute``).

    Returns
    -------
    list of (str, object)
        The key (the name, or a Captum object's class name) and the method as given.
    """
    if isinstance(methods, str) or not isinstance(methods, Sequence):
        methods = [methods]
    if not methods:
        raise ValueError("no methods: pass at least one name from xw.attribution.METHOD_NAMES "
                         "or a Captum attribution object")
    out, seen = [], set()
    for m in methods:
        if isinstance(m, str):
            if m not in attribution.METHODS:
                raise attribution.unknown_method_error(m)
            if m == "lrp" and importlib.util.find_spec("zennit") is None:
                raise ImportError('the "lrp" method needs zennit: pip install "xai_widgets[lrp]"')
            key = m
        elif callable(getattr(m, "attribute", None)):
            key = type(m).__name__
        else:
            raise TypeError(f"a method must be a name from xw.attribution.METHOD_NAMES or a Captum "
                            f"attribution object (with .attribute), got {type(m).__name__}")
        if key in seen:
            raise ValueError(f"method {key!r} is listed twice; a column per method")
        seen.add(key)
        out.append((key, m))
    return out


def option_map(options, keys: Sequence[str]) -> dict[str, dict]:
    """The methods' keyword options by method key.

    Parameters
    ----------
    options : dict or None
        ``{method: {keyword: value}}``; a Captum object's key is the object or its class name.
    keys : sequence of str
        The method keys (:func:`method_list`).

    Returns
    -------
    dict
        ``{key: dict of keyword options}`` (copies), for the methods given options.
    """
    options = options or {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict {{method: {{keyword: value}}}}, got {type(options).__name__}")
    out = {}
    for name, kw in options.items():
        key = name if isinstance(name, str) else type(name).__name__
        if key not in keys:
            raise ValueError(f"options for {key!r}, which is not among the methods ({', '.join(keys)})")
        if not isinstance(kw, dict):
            raise TypeError(f"options[{key!r}] must be a dict of keyword options, got {type(kw).__name__}")
        out[key] = dict(kw)
    return out


def explained_classes(logits: torch.Tensor, target, contrast,
                      class_name: Callable[[int], str]) -> tuple[list[int], list[int | None]]:
    """The class each image's maps explain, and its contrast class B (or None).

    Parameters
    ----------
    logits : torch.Tensor
        N x K logits of the images.
    target : None, int or sequence of ints
        The constructor's ``target``: None (each image's top-1), one class, or one per image.
    contrast : None, int or sequence of ints/None
        The constructor's ``contrast``: None, one class, or one class (or None) per image.
    class_name : callable
        Names a class index in the error messages.

    Returns
    -------
    (list of int, list of int or None)
        The targets and contrasts, one per image, never a contrast equal to its target.
    """
    n, K = logits.shape
    resolvable = contrast  # targets_from_logits checks a contrast without None entries
    if isinstance(contrast, (list, tuple)) and any(v is None for v in contrast):
        if len(contrast) != n:
            raise ValueError(f"contrast must be one class (or None) per image ({n} values), got {len(contrast)}")
        resolvable = None
    t, c = targets.targets_from_logits(logits, target, resolvable)
    if contrast is None:
        contrasts = [None] * n
    elif c is not None:
        contrasts = [int(v) for v in c.tolist()]
    else:  # the entries one by one
        contrasts = []
        for i, v in enumerate(contrast):
            if v is not None and not (isinstance(v, (int, np.integer)) and 0 <= int(v) < K):
                raise ValueError(f"contrast {v!r} (image {i}) is out of range: classes are 0..{K - 1}")
            contrasts.append(None if v is None else int(v))
    out = ([int(v) for v in t.tolist()], contrasts)
    check_pairs(*out, class_name)
    return out


def same_class_image(targets: Sequence[int], contrasts: Sequence[int | None]) -> int | None:
    """The first image whose contrast class is its target ("A vs B" needs two classes), or None.

    Parameters
    ----------
    targets : sequence of int
        The class A per image.
    contrasts : sequence of int or None
        The class B per image, None where there is none.

    Returns
    -------
    int or None
        The index of the first image with ``contrast == target``; None if there is none.
    """
    return next((i for i, (t, c) in enumerate(zip(targets, contrasts)) if c is not None and c == t), None)


def check_pairs(targets: Sequence[int], contrasts: Sequence[int | None], class_name: Callable[[int], str]) -> None:
    """Raise ValueError, naming the class with ``class_name``, for an image whose contrast
    class is its target (:func:`same_class_image`).

    Parameters
    ----------
    targets : sequence of int
        The class A per image.
    contrasts : sequence of int or None
        The class B per image, None where there is none.
    class_name : callable
        ``class_name(k) -> str``, the class's display name for the message.

    Raises
    ------
    ValueError
        If an image's contrast class equals its target.
    """
    i = same_class_image(targets, contrasts)
    if i is not None:
        raise ValueError(f"image {i}: the contrast class equals the target ({class_name(targets[i])}); "
                         "A vs B needs two different classes")


def class_list(value, name: str, n: int, K: int) -> list:
    """Proposed ``targets`` or ``contrasts`` (``name``): one class index per image, or None
    for a contrast; otherwise :class:`~xai_widgets.widgets.checks.Refused`.

    Parameters
    ----------
    value : sequence
        The proposed list.
    name : {"targets", "contrasts"}
        The trait set.
    n, K : int
        The numbers of images and classes.

    Returns
    -------
    list
        The class indices (None where no contrast).
    """
    v = list(value)
    if len(v) != n:
        entry = "one class or None" if name == "contrasts" else "one class"
        raise Refused(f"{name} must hold {entry} per image ({n}), got {len(v)}")
    return [None if k is None else index_in(f"{name[:-1]} of image {i}", k, K, "a class index")
            for i, k in enumerate(v)]


def refuse_same_classes(targets: Sequence[int], contrasts: Sequence[int | None], changed: str) -> None:
    """Refuse (:class:`~xai_widgets.widgets.checks.Refused`) setting ``changed`` ("targets" or
    "contrasts") alone so that an image's contrast class is its target (:func:`same_class_image`):
    a pair changes together, through ``retarget`` or a class pick in the browser.

    Parameters
    ----------
    targets : sequence of int
        The class A per image (the proposed list when ``changed`` is ``"targets"``).
    contrasts : sequence of int or None
        The class B per image (the proposed list when ``changed`` is ``"contrasts"``).
    changed : {"targets", "contrasts"}
        The trait being set; the message says how to proceed for each.

    Raises
    ------
    Refused
        If an image's contrast class equals its target.
    """
    i = same_class_image(targets, contrasts)
    if i is None:
        return
    if changed == "targets":
        raise Refused(f"image {i}: target {targets[i]} equals its contrast class; clear the "
                      "contrast first (or use w.retarget)")
    raise Refused(f"image {i}: contrast {contrasts[i]} equals the target; A vs B needs two classes")


def slider_positions(value: dict, sliders: dict[str, int], n: int) -> dict:
    """Proposed ``positions``: every slider method mapped to one position per image, each in
    range; otherwise :class:`~xai_widgets.widgets.checks.Refused`.

    Parameters
    ----------
    value : dict
        The proposed ``{method key: positions}``.
    sliders : dict
        ``{method key: number of slider positions}`` of the methods with a slider.
    n : int
        The number of images.

    Returns
    -------
    dict
        ``{method key: list of int}``.
    """
    if set(value) != set(sliders):  # every slider column always has its positions
        raise Refused(f"positions must map each slider method ({', '.join(sliders) or 'none'}) to one "
                      f"position per image, got keys {sorted(map(str, value))}")
    for key, pos in value.items():
        if not isinstance(pos, list) or len(pos) != n:
            raise Refused(f"positions[{key!r}] must list one position per image ({n})")
    return {key: [index_in(f"positions[{key!r}][{i}]", p, sliders[key], "a slider position")
                  for i, p in enumerate(pos)] for key, pos in value.items()}
