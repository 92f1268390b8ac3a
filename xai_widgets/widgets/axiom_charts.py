"""The chart panels of the axiom checks, for :class:`~xai_widgets.widgets.metrics_chart.MetricsChart`.

* Input-shift invariance (Kindermans et al., "The (Un)reliability of Saliency Methods", 2019,
  section 3) and implementation invariance (Sundararajan, Taly and Yan 2017, section 2), from an
  :class:`~xai_widgets.attribution.invariance.InvarianceReport`: per method, the relative
  difference between the maps of the two twins as a dot on a log scale, blue where the method
  passes, orange where it fails, and the pass threshold as a dashed line.
* Conservation (Bach et al. 2015, Eq. 2; Montavon et al. 2019, section 10.2), from
  :class:`~xai_widgets.attribution.conservation.Conservation` results: the relevance summed at
  the input of each layer from the output down, one line per LRP setting, and f(x) dashed.

Each builder returns the ``_chart`` payload ``{kind, panels}`` in the format of
:func:`xai_widgets.core.charts.chart_scene` (the browser's ``js/lib/chart.js`` reads the same).
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..attribution.conservation import Conservation
from ..attribution.invariance import InvarianceReport
from ..core.colormaps import TABLEAU10

__all__ = ["invariance_payload", "conservation_payload", "PASS", "FAIL", "REFERENCE"]

PASS, FAIL, REFERENCE = TABLEAU10["blue"], TABLEAU10["orange"], "#8c8c8c"
#: Line colours of the conservation chart, one per LRP setting.
LINES = [TABLEAU10[c] for c in ("blue", "red", "teal", "purple", "brown", "yellow", "pink", "green")]


def _decades(values: list, tolerance: float) -> tuple[int, int]:
    """The y axis in decades: one below the smallest positive difference (or the tolerance) to
    one above the largest."""
    positive = [v for v in values if np.isfinite(v) and v > 0] + [tolerance]
    lo = math.floor(math.log10(min(positive))) - 1
    hi = max(math.ceil(math.log10(max(positive))) + 1, lo + 2)
    return lo, hi


def _verdict(d: float, invariant: bool) -> str:
    return "undefined (f1's map is zero)" if not np.isfinite(d) else "invariant" if invariant else "not invariant"


def invariance_payload(report: InvarianceReport, kind: str) -> dict:
    """The ``_chart`` payload of an invariance report: one dot per method on a log scale.

    Parameters
    ----------
    report : InvarianceReport
        From :func:`~xai_widgets.attribution.invariance.input_shift_invariance` (``kind``
        "input_shift") or :func:`~xai_widgets.attribution.invariance.implementation_invariance`
        ("implementation").
    kind : {"input_shift", "implementation"}
        Which check the report is from.

    Returns
    -------
    dict
        ``{"kind": kind, "panels": [panel]}``; the panel's ys are log10 of the relative
        differences (a difference of 0 at the axis's bottom), ``xnotes`` the verdict per method.

    Raises
    ------
    TypeError
        If ``report`` is not an InvarianceReport.
    ValueError
        If the report is from the other check, or holds no method.
    """
    if not isinstance(report, InvarianceReport):
        raise TypeError(f"{kind} takes an invariance.InvarianceReport, got {type(report).__name__}")
    expected = "shift" if kind == "input_shift" else "layer"
    if expected not in report.change:
        made = "implementation_invariance" if kind == "input_shift" else "input_shift_invariance"
        raise ValueError(f"this report comes from {made}(); draw it with MetricsChart."
                         f"{'implementation' if kind == 'input_shift' else 'input_shift'}(report)")
    names = list(report.names)
    if not names:
        raise ValueError("the report holds no method (every check was skipped): nothing to draw")
    diffs = [float(report.difference[n]) for n in names]
    lo, hi = _decades(diffs, report.tolerance)
    ys = [None if not np.isfinite(d) else float(math.log10(max(d, 10.0 ** lo))) for d in diffs]
    passed = [y if report.invariant[n] else None for y, n in zip(ys, names)]
    failed = [None if report.invariant[n] else y for y, n in zip(ys, names)]
    tol = report.tolerance
    series = [
        {"name": "invariant", "title": "invariant", "ys": passed, "color": PASS, "dash": [], "mark": "dots",
         "label": f"invariant: relative difference <= {tol:g}", "baseline": False},
        {"name": "not invariant", "title": "not invariant", "ys": failed, "color": FAIL, "dash": [], "mark": "dots",
         "label": f"not invariant: relative difference > {tol:g}", "baseline": False},
        {"name": "threshold", "title": "threshold", "ys": [math.log10(tol)] * len(names), "color": REFERENCE,
         "dash": [6, 4], "label": f"threshold {tol:g} (dashed)", "baseline": True},
    ]
    verdicts = [_verdict(d, report.invariant[n]) for d, n in zip(diffs, names)]
    groups = {v: [n for n, w in zip(names, verdicts) if w == v] for v in dict.fromkeys(verdicts)}
    if kind == "input_shift":
        title = f"Input-shift invariance: f2(x + m) = f1(x) with m = {report.change['shift']}"
    else:
        title = (f"Implementation invariance: the units of {report.change['layer']} split in two "
                 f"(theta = {report.change['theta']:.3g})")
    stride = max(1, math.ceil((hi - lo) / 6))
    panel = {"id": kind, "title": title,
             "subtitle": "; ".join(f"{v}: {', '.join(ns)}" for v, ns in groups.items())
             + (f"; a difference of 0 is drawn at the bottom (1e{lo})" if 0.0 in diffs else ""),
             "xTitle": "method", "yTitle": "max |map1 - map2| / max |map1| (log scale)",
             "xs": [float(i) for i in range(len(names))], "xlabels": names, "xRange": [-0.5, len(names) - 0.5],
             "yRange": [float(lo), float(hi)], "yticks": [float(t) for t in range(hi, lo - 1, -stride)][::-1],
             "yLog": True, "series": series, "aspect": 0.95,  # room for the slanted method names
             "xnotes": [f"{'0' if d == 0 else f'{d:.3g}'} ({v})" if np.isfinite(d) else v
                        for d, v in zip(diffs, verdicts)]}
    return {"kind": kind, "panels": [panel]}


def conservation_payload(results: Mapping) -> dict:
    """The ``_chart`` payload of conservation results: relevance per layer, f(x) dashed.

    Parameters
    ----------
    results : Conservation or mapping of str to Conservation
        One result, or ``{label: result}`` for several LRP settings on the same model, images
        and classes (the same layers and f(x)).

    Returns
    -------
    dict
        ``{"kind": "conservation", "panels": [panel]}``; x 0 is the output (f(x)), x i the input
        of the i-th layer from the top; each series the mean over the images.

    Raises
    ------
    TypeError
        If a result is not a Conservation.
    ValueError
        If the results differ in layers or in f(x).
    """
    if isinstance(results, Conservation):
        results = {f"LRP ({results.composite})": results}
    if not isinstance(results, Mapping) or not results:
        raise TypeError(f"conservation takes a conservation.Conservation or a non-empty dict of them, "
                        f"got {type(results).__name__}")
    items = [(str(k), v) for k, v in results.items()]
    for name, r in items:
        if not isinstance(r, Conservation):
            raise TypeError(f"results[{name!r}] must be a conservation.Conservation, got {type(r).__name__}")
    first_name, first = items[0]
    for name, r in items[1:]:
        if r.layers != first.layers or r.score.shape != first.score.shape or \
                not np.allclose(r.score, first.score, rtol=1e-6, atol=0):
            raise ValueError(f"the conservation results must share layers and f(x) (same model, images and "
                             f"classes); {name!r} differs from {first_name!r}")
    score = float(first.score.mean())
    series = []
    for i, (name, r) in enumerate(items):
        mean = r.relevance.mean(0)
        kept = f"{mean[-1] / score:.0%} of f(x) at the pixels" if score else "f(x) is 0"
        colour = LINES[i % len(LINES)]
        series.append({"name": name, "title": name, "ys": [score] + [float(v) for v in mean], "color": colour,
                       "dash": [] if i < len(LINES) else [6, 3], "label": f"{name} · keeps {kept}",
                       "baseline": False})
    series.append({"name": "f(x)", "title": "f(x)", "ys": [score] * (len(first.layers) + 1), "color": REFERENCE,
                   "dash": [6, 4], "label": "f(x), the target's logit (dashed): full conservation",
                   "baseline": True})
    values = [v for s in series for v in s["ys"]]
    panel = {"id": "conservation", "title": "Conservation: LRP relevance summed at each layer, from the output down",
             "subtitle": "below the dashed line a layer absorbed relevance (biases, epsilon), above it created some",
             "xTitle": "layer (relevance at its input)",
             "yTitle": f"sum of relevance, mean over {len(first.score)} image{'s' if len(first.score) > 1 else ''}",
             "xs": [float(i) for i in range(len(first.layers) + 1)], "xlabels": ["output"] + list(first.layers),
             "yRange": [min(values), max(values)], "series": series}  # not from 0: small losses stay visible
    return {"kind": "conservation", "panels": [panel]}
