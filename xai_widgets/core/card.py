"""The explanation card: what a view explains, how, and how to read it, as plain text.

Palacio et al. ("XAI Handbook: Towards a Unified Framework for Explainable AI", ICCV Workshops
2021, Sec. 3) describe an explanation by the question it answers, its *explanandum* (what is
explained: the model, its layers or units, the input), its *explainer* (the method and its
settings) and its *interpretation* (what the shown colours and numbers mean). A card is a dict
with those four keys; each value is a string or a small nested dict of strings, numbers, bools
and lists of them. :func:`card_rows` flattens a card into the rows both the browser's "About this
view" block and the PNG's text block show, so the two read alike.
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

__all__ = ["SECTIONS", "card_rows", "card_text", "model_summary", "models_summary"]

# (key, heading) of the card's sections, in the order they are shown
SECTIONS = (
    ("question", "Question"),
    ("explanandum", "Explanandum: what is explained"),
    ("explainer", "Explainer: the method and its settings"),
    ("interpretation", "Interpretation: how to read it"),
)


def model_summary(model: nn.Module) -> dict:
    """What a card says of a model: its class, size, device and dtype.

    Only reads the parameters (no forward pass, no lock), so a card can be made while a
    background task runs the model.

    Parameters
    ----------
    model : torch.nn.Module
        The network the card describes (any module, on any device).

    Returns
    -------
    dict
        ``{"class", "parameters", "trainable", "device", "dtype"}``: the class name, the number
        of parameter values (trainable ones apart), and the device and dtype of its parameters
        (``"none"`` for a model without any; several joined by ``", "``).
    """
    params = list(model.parameters())
    devices = sorted({str(p.device) for p in params}) or ["none"]
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in params}) or ["none"]
    return {"class": type(model).__name__, "parameters": sum(p.numel() for p in params),
            "trainable": sum(p.numel() for p in params if p.requires_grad),
            "device": ", ".join(devices), "dtype": ", ".join(dtypes)}


def models_summary(models: Mapping[str, nn.Module]) -> dict:
    """:func:`model_summary` of one model, or a dict of them keyed by name for several.

    Parameters
    ----------
    models : mapping of str to torch.nn.Module
        The models by name (one model may have any name, ``""`` included).

    Returns
    -------
    dict
        The one model's summary, or ``{name: summary}``.
    """
    if len(models) == 1:
        return model_summary(next(iter(models.values())))
    return {str(name): model_summary(m) for name, m in models.items()}


def card_text(value: Any) -> str:
    """One card value as the text shown: numbers to 4 significant digits, lists joined by commas.

    Parameters
    ----------
    value : str, int, float, bool, None, or list or tuple of them
        A leaf of a card.

    Returns
    -------
    str
        Strings as they are; bools as "yes" / "no"; None as "none"; ints in full (with thousands
        separators from 10,000); floats with ``.4g`` (-0.0 as "0"); lists and tuples as their
        items' texts joined by ", ".

    Raises
    ------
    TypeError
        For a value of another type (a card holds only these).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)  # 25,557,032 parameters
    if isinstance(value, float):
        # -0.0 as "0": a trait set from 0.0 to -0.0 does not notify (they are equal), so its card is not remade
        return f"{value + 0.0:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(card_text(v) for v in value)
    raise TypeError(f"a card value must be a string, number, bool, None or list of them, "
                    f"got {type(value).__name__}")


def _leaves(value: Any, path: str) -> list[list[str]]:
    if isinstance(value, Mapping):
        rows = []
        for key, item in value.items():
            rows += _leaves(item, f"{path} / {key}" if path else str(key))
        return rows
    return [[path, card_text(value)]]


def card_rows(card: Mapping) -> list[list]:
    """A card as its sections' rows of text, the form the browser and the PNG show.

    Parameters
    ----------
    card : mapping
        ``{"question", "explanandum", "explainer", "interpretation"}``, each a string or a
        nested dict (see the module's description).

    Returns
    -------
    list
        ``[[key, heading, [[label, text], ...]], ...]`` in the order of :data:`SECTIONS`: a
        string section is one row with an empty label; a nested dict gives one row per leaf,
        labelled by its keys joined by " / " (``"model / parameters"``).

    Raises
    ------
    ValueError
        If ``card`` does not have exactly the four keys.
    TypeError
        If a leaf is not of a type :func:`card_text` takes.
    """
    keys = [key for key, _ in SECTIONS]
    if sorted(card) != sorted(keys):
        raise ValueError(f"a card has exactly the keys {keys}, got {sorted(card)}")
    return [[key, heading, _leaves(card[key], "")] for key, heading in SECTIONS]
