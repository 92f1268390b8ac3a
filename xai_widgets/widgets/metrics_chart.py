"""``MetricsChart``: the curves of :mod:`xai_widgets.attribution.metrics` as a small chart view.

Two views, each built by a class method from a dict ``{method name: result}``:

* ``MetricsChart.deletion({"gradient": curve, ...})``: deletion and/or insertion curves
  (:func:`xai_widgets.attribution.metrics.deletion_curve`), one line per method, the mean over images,
  with each method's mean area under the curve in the legend; one panel per game present
  (pass a curve, or a list such as ``[deletion, insertion]``, per method).
* ``MetricsChart.randomisation({"gradient": result, ...})``: the model-parameter
  randomisation check (:func:`xai_widgets.attribution.metrics.randomisation_check`), the mean
  similarity to the trained model's maps after each randomised layer, one line per method,
  starting from "original" (a map compared with itself: 1).
* ``MetricsChart.continuity({"gradient": result, ...})``: the step between neighbouring
  explanations of a sliding occluder (:func:`xai_widgets.attribution.invariance.continuity`).
* The axiom checks (panels built in :mod:`.axiom_charts`): ``MetricsChart.input_shift(report)`` and
  ``MetricsChart.implementation(report)`` draw an
  :class:`~xai_widgets.attribution.invariance.InvarianceReport` as one dot per method on a log
  scale with the pass threshold dashed; ``MetricsChart.conservation(result)`` the LRP relevance
  summed at each layer (:func:`xai_widgets.attribution.conservation.layer_conservation`) with
  f(x) dashed.

Everything the browser draws is in the ``_chart`` trait (plain numbers, a few hundred at
most), so the view exports to standalone HTML and its numbers can be checked against the
results (``w.results`` holds them). Hovering or the arrow keys read values out in the browser
only. ``render_png`` / ``to_png`` draw the same chart with PIL (``scale=`` for print
resolution), ``to_svg`` as vector graphics.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import traitlets
from PIL import Image

from ..core import colormaps
from ..core.charts import chart_scene, scene_png, scene_svg
from ..attribution.invariance import Continuity
from ..attribution.metrics import Curve, Randomisation
from .attribution import method_title
from .axiom_charts import conservation_payload, invariance_payload
from .base import STATIC, XaiWidget
from .checks import Index, print_scale

__all__ = ["MetricsChart", "PALETTE"]

#: Line colours, in order of the methods: Tableau 10 without its grey (kept for the baselines).
#: Mid-tones: they read on JupyterLab's light and dark themes alike; the axes and text use the
#: theme's colours.
PALETTE = [hex_colour for name, hex_colour in colormaps.TABLEAU10.items() if name != "grey"]
#: Our methods in the order they take the palette: the ones most often compared first, so that
#: they get its most distinct colours (blue, orange, red, teal).
METHOD_ORDER = ["gradient", "integrated_gradients", "grad_cam", "lrp", "grad_x_input", "smoothgrad", "occlusion",
                "extremal_perturbation", "meaningful_perturbation", "rise", "patternattribution", "patternnet",
                "lime"]
#: Baselines (maps that explain nothing, to compare against) get dashed grey lines.
BASELINES = ("centre", "center", "random")
BASELINE_STYLE = [("#8c8c8c", [6, 4]), ("#a6a6a6", [2, 3])]
DASH = [6, 3]

_GAMES = {
    "deletion": ("Deletion: pixels removed, most relevant first (lower area is better)", "fraction of pixels deleted"),
    "insertion": ("Insertion: pixels revealed, most relevant first (higher area is better)",
                  "fraction of pixels inserted"),
}


def _floats(values) -> list:
    arr = np.asarray(values, dtype=np.float64).ravel()
    return [float(v) if np.isfinite(v) else None for v in arr]


def _fmt2(v: float) -> str:
    """Two decimals, without a minus sign on a value that rounds to zero."""
    text = f"{v:.2f}" if np.isfinite(v) else "undefined"
    return "0.00" if text == "-0.00" else text


def _styles(names: Sequence[str], baselines: Sequence[str]) -> dict:
    """{name: (colour, dash, title, is baseline)}. Our methods keep one colour in every chart
    (:data:`METHOD_ORDER` takes the palette in order: one colour, or past the palette one colour
    and a dash, per method); other names take the colours left, in order; baselines the greys."""
    base = {b.lower() for b in baselines}
    methods = [n for n in names if n.lower() not in base]
    # past the palette's length, a method takes the palette again, dashed
    fixed = {n: (PALETTE[i % len(PALETTE)], [] if i < len(PALETTE) else DASH)
             for n in methods if n in METHOD_ORDER for i in [METHOD_ORDER.index(n)]}
    spare = [c for c in PALETTE if c not in {colour for colour, _ in fixed.values()}]
    out, j, k = {}, 0, 0
    for name in names:
        title = method_title(name)
        if name.lower() in base:
            colour, dash = BASELINE_STYLE[j % len(BASELINE_STYLE)]
            out[name] = (colour, dash, title, True)
            j += 1
        elif name in fixed:
            out[name] = (*fixed[name], title, False)
        else:  # the colours left, then the palette again, dashed
            colour = spare[k] if k < len(spare) else PALETTE[(k - len(spare)) % len(PALETTE)]
            out[name] = (colour, [] if k < len(spare) else DASH, title, False)
            k += 1
    return out


def _series(name: str, ys: list, style: tuple, what: str) -> dict:
    colour, dash, title, baseline = style
    label = f"{title} (baseline, dashed grey) · {what}" if baseline else f"{title} · {what}"
    return {"name": name, "title": title, "ys": ys, "color": colour, "dash": dash, "label": label, "baseline": baseline}


def _check_results(results, kind: str) -> dict:
    if not isinstance(results, Mapping) or not results:
        raise TypeError(f"{kind} results must be a non-empty dict {{method name: result}}, "
                        f"got {type(results).__name__}")
    return {str(k): v for k, v in results.items()}


def _deletion_payload(results: dict, baselines: Sequence[str]) -> dict:
    by_mode: dict[str, list] = {"deletion": [], "insertion": []}
    for name, value in results.items():
        curves = [value] if isinstance(value, Curve) else value
        if not isinstance(curves, Sequence) or not curves or not all(isinstance(c, Curve) for c in curves):
            raise TypeError(f"results[{name!r}] must be a metrics.Curve or a list of them "
                            "(e.g. [deletion, insertion]), "
                            f"got {type(value).__name__}")
        for c in curves:
            if any(n == name for n, _ in by_mode[c.mode]):
                raise ValueError(f"results[{name!r}] has two {c.mode} curves; give one per game")
            by_mode[c.mode].append((name, c))
    panels = []
    styles = _styles(list(results), baselines)
    for mode in ("deletion", "insertion"):
        entries = by_mode[mode]
        if not entries:
            continue
        first = entries[0][1]
        for name, c in entries[1:]:
            if c.fractions.shape != first.fractions.shape or not np.allclose(c.fractions, first.fractions):
                raise ValueError(f"the {mode} curves must share their fractions (same steps and image size); "
                                 f"{name!r} differs from {entries[0][0]!r}")
            if c.score != first.score:
                raise ValueError(f"the {mode} curves must follow the same score; {name!r} has {c.score!r}, "
                                 f"{entries[0][0]!r} has {first.score!r}")
        title, x_title = _GAMES[mode]
        y_title = ("p(target class), softmax" if first.score == "probability" else "target logit") + \
            f", mean over {first.scores.shape[0]} images"
        series = []
        for name, c in entries:
            series.append({**_series(name, _floats(c.mean_scores), styles[name], f"AUC {c.mean_area:.3f}"),
                           "area": float(c.mean_area)})
        baselines = sorted({c.baseline for _, c in entries})
        panels.append({"id": mode, "title": title, "subtitle": f"baseline: {', '.join(baselines)}",
                       "xTitle": x_title, "yTitle": y_title, "xs": _floats(first.fractions), "xlabels": None,
                       "yRange": [0.0, 1.0] if first.score == "probability" else [0.0, 0.0], "series": series})
    return {"kind": "deletion", "panels": panels}


def _randomisation_payload(results: dict, signed: bool, baselines: Sequence[str]) -> dict:
    for name, r in results.items():
        if not isinstance(r, Randomisation):
            raise TypeError(f"results[{name!r}] must be a metrics.Randomisation, got {type(r).__name__}")
    first_name, first = next(iter(results.items()))
    for name, r in results.items():
        if list(r.layers) != list(first.layers) or r.order != first.order or r.measure != first.measure:
            raise ValueError(f"the randomisation results must share layers, order and similarity; {name!r} "
                             f"({r.order}, {r.measure}, {r.layers}) differs from {first_name!r} "
                             f"({first.order}, {first.measure}, {first.layers})")
    measure = "Spearman rank correlation" if first.measure == "spearman" else "SSIM"
    what = "signed map" if signed else "|map|"
    series = []
    styles = _styles(list(results), baselines)
    for name, r in results.items():
        mean = r.mean_signed if signed else r.mean
        series.append(_series(name, [1.0] + _floats(mean), styles[name], f"after all layers {_fmt2(mean[-1])}"))
    order = ("cascading: each layer and all above it randomised" if first.order == "cascade"
             else "independent: one layer at a time randomised")
    panel = {"id": "randomisation", "title": f"Model-parameter randomisation ({order}), from the logits down",
             "subtitle": f"{measure} of the {what} with the trained model's; 1 = unchanged",
             "xTitle": "randomised layer",
             "yTitle": f"{measure} of {what}, mean over {first.similarity.shape[0]} images",
             "xs": [float(i) for i in range(len(first.layers) + 1)], "xlabels": ["original"] + list(first.layers),
             "yRange": [0.0, 1.0], "series": series}
    return {"kind": "randomisation", "panels": [panel]}


def _continuity_payload(results: dict, baselines: Sequence[str]) -> dict:
    for name, r in results.items():
        if not isinstance(r, Continuity):
            raise TypeError(f"results[{name!r}] must be an invariance.Continuity, got {type(r).__name__}")
    first_name, first = next(iter(results.items()))
    for name, r in results.items():
        if list(r.positions) != list(first.positions):
            raise ValueError(f"the continuity results must share the patch positions; {name!r} differs from "
                             f"{first_name!r}")
    styles = _styles(list(results), baselines)
    series = [_series(name, _floats(r.steps), styles[name], f"largest step {r.jump:.1f} x the median")
              for name, r in results.items()]
    xs = [(a + b) / 2 for a, b in zip(first.positions, first.positions[1:])]
    panel = {"id": "continuity", "title": "Continuity: an occluding patch slides from left to right",
             "subtitle": "how much the explanation changes from one position to the next; a spike is a jump",
             "xTitle": "patch position (left edge, px, between two steps)",
             "yTitle": f"change of the map / its mean norm, {len(first.maps)} positions",
             "xs": xs, "xlabels": None, "yRange": [0.0, 0.0], "series": series}
    return {"kind": "continuity", "panels": [panel]}


class MetricsChart(XaiWidget):
    """Deletion / insertion curves, the randomisation or continuity check, or an axiom check, per method.

    Build it with :meth:`deletion`, :meth:`randomisation`, :meth:`continuity`,
    :meth:`input_shift`, :meth:`implementation` or :meth:`conservation` (or
    ``MetricsChart(kind, results)``).

    Parameters
    ----------
    kind : "deletion" | "randomisation" | "continuity" | "input_shift" | "implementation" | "conservation"
    results : dict or result
        ``{method name: metrics.Curve or [Curve, ...]}`` for "deletion" (deletion and insertion
        curves go to their own panels); ``{method name: metrics.Randomisation}`` for
        "randomisation" (all with the same layers, order and similarity measure);
        ``{method name: invariance.Continuity}`` for "continuity" (the same patch positions);
        an ``invariance.InvarianceReport`` for "input_shift" and "implementation"; a
        ``conservation.Conservation`` or ``{label: Conservation}`` for "conservation".
    signed : bool
        Randomisation only: plot the similarity of the signed maps instead of |map|.
    size : int
        Preferred width of each chart panel in CSS pixels (the height is 0.62 of it); in the
        browser the charts shrink to the width of the output, and go one under the other when
        two do not fit side by side.
    baselines : names
        Results drawn as baselines (dashed grey, said so in the key): by default those named
        "centre", "center" or "random" (any case).

    Raises
    ------
    ValueError
        If ``kind`` is not one of the six; if deletion results give
        one method two curves of a game, or curves of a game differ in fractions or
        score; if randomisation results differ in layers, order or similarity measure.
    TypeError
        If ``results`` is not a non-empty dict, or a value is not the kind's result type.

    Attributes
    ----------
    kind : str
        The view.
    results : dict or result
        The results drawn, as given.
    """

    _esm = STATIC / "metrics_chart.js"

    _css = STATIC / "metrics_chart.css"
    _chart = traitlets.Dict().tag(sync=True)
    size = Index(440, min=200, max=2048).tag(sync=True)  # CSS pixels: narrower charts crowd their labels
    _browser_traits = frozenset()

    def __init__(self, kind: str, results: Mapping, *, signed: bool = False, size: int = 440,
                 baselines: Sequence[str] = BASELINES):
        if isinstance(baselines, str):
            baselines = [baselines]
        if kind == "deletion":
            payload = _deletion_payload(_check_results(results, kind), baselines)
        elif kind == "randomisation":
            payload = _randomisation_payload(_check_results(results, kind), bool(signed), baselines)
        elif kind == "continuity":
            payload = _continuity_payload(_check_results(results, kind), baselines)
        elif kind in ("input_shift", "implementation"):
            payload = invariance_payload(results, kind)
        elif kind == "conservation":
            payload = conservation_payload(results)
        else:
            raise ValueError(f"kind must be 'deletion', 'randomisation', 'continuity', 'input_shift', "
                             f"'implementation' or 'conservation', got {kind!r}")
        self.kind = kind
        self.results = dict(results) if isinstance(results, Mapping) else results
        super().__init__(_chart=payload, size=size)

    @classmethod
    def deletion(cls, results: Mapping, *, size: int = 440, baselines: Sequence[str] = BASELINES) -> "MetricsChart":
        """Deletion and insertion curves: ``{name: curve or [deletion_curve, insertion_curve]}``.

        Parameters
        ----------
        results : Mapping
            ``{method name: metrics.Curve or list of Curve}``; deletion and insertion
            curves go to their own panels.
        size : int, optional
            Preferred width of each panel in CSS pixels, in [200, 2048]. Default 440.
        baselines : sequence of str or str, optional
            Names of the results drawn as baselines (dashed grey). Default
            ``("centre", "center", "random")``, matched in any case.

        Returns
        -------
        MetricsChart
            The chart, of kind ``"deletion"``.

        Raises
        ------
        TypeError
            If ``results`` is not a non-empty dict, or a value is not a Curve or a list of them.
        ValueError
            If a method has two curves of one game, or the curves of a game differ in
            fractions or score.
        """
        return cls("deletion", results, size=size, baselines=baselines)

    @classmethod
    def randomisation(cls, results: Mapping, *, signed: bool = False, size: int = 440,
                      baselines: Sequence[str] = BASELINES) -> "MetricsChart":
        """Similarity per randomised layer: ``{name: metrics.Randomisation}``.

        Parameters
        ----------
        results : Mapping
            ``{method name: metrics.Randomisation}``, all with the same layers, order and
            similarity measure.
        signed : bool, optional
            Plot the similarity of the signed maps instead of |map|. Default False.
        size : int, optional
            Preferred width of each panel in CSS pixels, in [200, 2048]. Default 440.
        baselines : sequence of str or str, optional
            Names of the results drawn as baselines (dashed grey). Default
            ``("centre", "center", "random")``, matched in any case.

        Returns
        -------
        MetricsChart
            The chart, of kind ``"randomisation"``.

        Raises
        ------
        TypeError
            If ``results`` is not a non-empty dict of Randomisation results.
        ValueError
            If the results differ in layers, order or similarity measure.
        """
        return cls("randomisation", results, signed=signed, size=size, baselines=baselines)

    @classmethod
    def continuity(cls, results: Mapping, *, size: int = 440, baselines: Sequence[str] = BASELINES) -> "MetricsChart":
        """The continuity check: ``{name: invariance.Continuity}``, the step between neighbouring
        explanations along the patch's path, one line per method (Montavon 2019, section 13.4).

        Parameters
        ----------
        results : Mapping
            ``{method name: attribution.invariance.Continuity}``, all over the same patch positions.
        size : int, optional
            Preferred width of the panel in CSS pixels, in [200, 2048]. Default 440.
        baselines : sequence of str or str, optional
            Names of the results drawn as baselines (dashed grey).

        Returns
        -------
        MetricsChart
            The chart, of kind ``"continuity"``.

        Raises
        ------
        TypeError
            If ``results`` is not a non-empty dict of Continuity results.
        ValueError
            If the results differ in patch positions.
        """
        return cls("continuity", results, size=size, baselines=baselines)

    @classmethod
    def input_shift(cls, report, *, size: int = 440) -> "MetricsChart":
        """Input-shift invariance (Kindermans et al. 2019, section 3): per method, the relative
        difference between the maps of f1 at x and of its shifted twin f2 at x + m, as a dot on a log
        scale (blue: invariant, orange: not), with the pass threshold dashed.

        Parameters
        ----------
        report : attribution.invariance.InvarianceReport
            From :func:`~xai_widgets.attribution.invariance.input_shift_invariance`.
        size : int, optional
            Preferred width of the panel in CSS pixels, in [200, 2048]. Default 440.

        Returns
        -------
        MetricsChart
            The chart, of kind ``"input_shift"``.

        Raises
        ------
        TypeError
            If ``report`` is not an InvarianceReport.
        ValueError
            If it comes from the implementation-invariance check, or holds no method.
        """
        return cls("input_shift", report, size=size)

    @classmethod
    def implementation(cls, report, *, size: int = 440) -> "MetricsChart":
        """Implementation invariance (Sundararajan et al. 2017, section 2): per method, the relative
        difference between the maps of a network and its neuron-split twin, drawn as :meth:`input_shift`
        draws its report (and refusing, as it does, a report of the other check).

        Parameters
        ----------
        report : attribution.invariance.InvarianceReport
            From :func:`~xai_widgets.attribution.invariance.implementation_invariance`.
        size : int, optional
            As :meth:`input_shift`.

        Returns
        -------
        MetricsChart
            Of kind ``"implementation"``.
        """
        return cls("implementation", report, size=size)

    @classmethod
    def conservation(cls, results, *, size: int = 440) -> "MetricsChart":
        """LRP's conservation layer by layer (Bach et al. 2015, Eq. 2): the relevance summed at the
        input of each layer from the output down, one line per result, f(x) dashed.

        Parameters
        ----------
        results : attribution.conservation.Conservation or mapping of str to Conservation
            From :func:`~xai_widgets.attribution.conservation.layer_conservation`; several (e.g.
            one per composite) on the same model, images and classes.
        size : int, optional
            As :meth:`input_shift`.

        Returns
        -------
        MetricsChart
            Of kind ``"conservation"``.

        Raises
        ------
        TypeError
            If a result is not a Conservation.
        ValueError
            If the results differ in layers or f(x).
        """
        return cls("conservation", results, size=size)

    @property
    def panels(self) -> list[dict]:
        """What each chart draws: title, axes, x values and the series (name, ys, colour, label)."""
        return self._chart["panels"]

    _CARD = {  # kind -> (question, metric and its source)
        "deletion": ("Do the methods' maps rank pixels by how much the model needs them?",
                     "deletion and insertion games (Petsiuk, Das and Saenko, RISE, BMVC 2018)"),
        "randomisation": ("Do the methods' maps change when the model's weights are randomised?",
                          "model-parameter randomisation test (Adebayo et al., Sanity Checks for Saliency Maps, "
                          "NeurIPS 2018)"),
        "continuity": ("Do the methods' maps change smoothly as the input changes smoothly?",
                       "continuity under a sliding occluding patch (Montavon, in Explainable AI, LNCS 11700, "
                       "2019, Sec. 13.4)"),
        "input_shift": ("Do the methods' maps stay the same for a twin that takes the input shifted by a constant?",
                        "input-shift invariance (Kindermans et al., The (Un)reliability of Saliency Methods, 2019, "
                        "Sec. 3)"),
        "implementation": ("Do the methods' maps stay the same for a twin that computes the same function "
                           "with split units?",
                           "implementation invariance (Sundararajan, Taly and Yan, ICML 2017, Sec. 2)"),
        "conservation": ("How much of the score f(x) does LRP keep at each layer?",
                         "relevance conservation (Bach et al., PLoS ONE 2015, Eq. 2; Montavon et al. 2019, "
                         "Sec. 10.2)"),
    }
    _LINES = {"input_shift": "one dot per method: blue invariant, orange not; dashed: the tolerance",
              "implementation": "one dot per method: blue invariant, orange not; dashed: the tolerance",
              "conservation": "one per LRP setting, relevance summed at each layer's input; dashed: f(x)"}

    def _card_parts(self) -> dict:
        """The card: the methods compared, each panel's metric and axes, how to read the lines."""
        question, metric = self._CARD[self.kind]
        panels = {p["id"]: {"title": p["title"], **({"setting": p["subtitle"]} if p.get("subtitle") else {}),
                            "x": p["xTitle"], "y": p["yTitle"],
                            "lines": [s["label"] for s in p["series"]]} for p in self.panels}
        r = self.results  # a dict of results, an invariance report or one conservation result
        compared = list(r) if isinstance(r, Mapping) else list(r.names) if hasattr(r, "names") else \
            [f"LRP ({r.composite})"]
        return {"question": question,
                "explanandum": {"methods compared": compared},
                "explainer": {"metric": metric, "kind": self.kind, "panels": panels},
                "interpretation": {"lines": self._LINES.get(self.kind, "one per method, the mean over images; "
                                                                       "dashed grey: a baseline"),
                                   "hover": "reads the values at the nearest x out"}}

    # ------------------------------------------------------------------ static figure
    def _scenes(self, panel: int | None, scale: float) -> list:
        scale = print_scale(scale)
        width = max(240, int(panel or self.size))
        return [chart_scene(p, width, scale) for p in self.panels]

    def render_png(self, panel: int | None = None, scale: float = 1.0) -> Image.Image:
        """The chart(s) as a PIL image, panels side by side, each ``panel`` px wide (default ``size``)
        times ``scale`` (2 or 3 for print), with titles, axes and each panel's key.

        Parameters
        ----------
        panel : int or None, optional
            Width of each panel in pixels before ``scale``, at least 240. Default None:
            the ``size`` trait.
        scale : float, optional
            Multiplier of every length, in [0.25, 8]. Default 1.0.

        Returns
        -------
        PIL.Image.Image
            The chart(s) as one image.

        Raises
        ------
        Refused
            If ``scale`` is not a number in [0.25, 8].
        """
        return scene_png(self._scenes(panel, scale), gap=int(round(8 * scale)))

    def to_svg(self, path, panel: int | None = None) -> Path:
        """Write the chart(s) as an SVG file (vector lines, text as text); returns the path.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (UTF-8; overwritten).
        panel : int or None, optional
            Width of each panel in SVG units, at least 240. Default None: the ``size`` trait.

        Returns
        -------
        pathlib.Path
            ``path`` as a ``Path``.
        """
        Path(path).write_text(scene_svg(self._scenes(panel, 1.0)), encoding="utf-8")
        return Path(path)

    def __repr__(self) -> str:
        names = [s["name"] for s in self.panels[0]["series"]] if self.panels else []
        return f"MetricsChart({self.kind!r}, panels={[p['id'] for p in self.panels]}, methods={names})"
