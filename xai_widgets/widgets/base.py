"""What every xai_widgets widget shares: the built front end, input validation, reports."""
from __future__ import annotations

import io
import os
from pathlib import Path

import anywidget
import traitlets
from PIL import Image

from ..core import colormaps
from ..core.card import card_rows, models_summary
from ..core.export import write_html
from ..core.render import stack_below, text_block
from .checks import Choice, Fraction, Span

STATIC = Path(__file__).resolve().parent.parent / "static"
PREVIEW_PANEL = 160  # px: panel size of the static preview shipped with every display
PREVIEW_SIDE = 1600  # px: its longest side


def _not_built(path: Path) -> RuntimeError:
    return RuntimeError(
        f"the front end {path.name} is not built. Install the package with "
        "`pip install -e .` (it runs `npm install && npm run build` in js/), "
        "or run `npm --prefix js install && npm --prefix js run build`."
    )


def _short(value, limit: int = 120) -> str:
    """A value's repr cut to a length a message line can hold."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


# Synced traits whose change leaves the explanation card as it is (the card itself, notices, progress)
_NOT_CARD_STATE = frozenset({"_card", "message", "progress"})
CARD_FONT = 11  # px at scale 1: the smallest text of the card under a PNG
CARD_CHARS = 60  # a wider figure draws its card in a font of its width / CARD_CHARS px
CARD_WIDTH = 420  # px at scale 1: the least width of the card's block (under a narrow figure, wider)


class _CardAfterInit(type(anywidget.AnyWidget)):
    """Makes a widget's explanation card once its whole constructor (the subclass's too) has run;
    from then on every change of a synced trait remakes it."""

    def __call__(cls, *args, **kwargs):
        widget = super().__call__(*args, **kwargs)
        widget._card_live = True
        widget._refresh_card()
        return widget


class XaiWidget(anywidget.AnyWidget, metaclass=_CardAfterInit):
    """Base class: validates what the browser sends and provides the report exports.

    Subclasses list in ``_browser_traits`` the traits the front end may set; anything
    else, or a value that fails validation, is ignored and explained in ``message``
    (shown in the widget) instead of raising inside the comm handler. Every such trait
    validates itself (the types in :mod:`.checks`, ``Enum``, ``Bool``) or has a
    :func:`.checks.validates` check, so a refused value never stays.

    Parameters
    ----------
    **kwargs
        Initial trait values, passed on to ``anywidget.AnyWidget``.

    Attributes
    ----------
    message : str
        The latest notice shown in the widget (a refused browser update, a failed task);
        empty when there is none.

    Notes
    -----
    Every widget explains itself in a card (:meth:`card`; shown in the widget as "About this
    view"). A subclass gives its own parts in one method, ``_card_parts()``, returning the four
    sections as this class documents for :meth:`card`; the model summary is added from
    ``_card_models()`` (by default ``self.model``).

    Raises
    ------
    RuntimeError
        On construction, if the subclass's front end (its ``_esm`` or ``_css`` file) has
        not been built by npm yet.
    """

    message = traitlets.Unicode("").tag(sync=True)
    _card = traitlets.List().tag(sync=True)  # card_rows(self.card()), what "About this view" shows
    _card_live = False  # set once the constructor has run: the card can be made from then on
    # Subclasses declare their front end as paths, as anywidget recommends:
    # _esm = STATIC / "<name>.js" and _css = STATIC / "<name>.css" (built from js/<name>.*).
    _browser_traits: frozenset[str] = frozenset()
    _unbuilt: Path | None = None  # a declared front-end file the npm build has not made yet

    def __init_subclass__(cls, **kwargs):
        # anywidget reads a Path `_esm` / `_css` when the class is defined (and, with
        # ANYWIDGET_HMR=1, watches it). Before the npm build the files do not exist: keep the
        # package importable and say what to run when such a widget is made.
        for key in ("_esm", "_css"):
            path = cls.__dict__.get(key)
            if isinstance(path, Path) and not path.exists():
                delattr(cls, key)
                cls._unbuilt = path
        super().__init_subclass__(**kwargs)

    def __init__(self, **kwargs):
        if self._unbuilt is not None:
            raise _not_built(self._unbuilt)
        super().__init__(**kwargs)
        self.on_msg(self._on_custom_msg)
        self.observe(self._on_state_change)

    # ------------------------------------------------------------------ the explanation card
    def card(self) -> dict:
        """What this view explains, how, and how to read it: the explanation card of its current state.

        The four parts of an explanation in Palacio et al. ("XAI Handbook: Towards a Unified
        Framework for Explainable AI", ICCV Workshops 2021, Sec. 3). The widget shows the same
        card as "About this view"; ``to_png(..., card=True)`` draws it under the figure.

        Returns
        -------
        dict
            ``{"question", "explanandum", "explainer", "interpretation"}``: ``question`` the
            question the view answers (a string); ``explanandum`` what is explained (the model:
            class, parameters, device, dtype; the layers or units; the input), ``explainer`` the
            method and all its effective settings, ``interpretation`` what the colours and
            numbers mean, with their ranges, and what a hover or click shows. Each is a string or
            a nested dict of strings, numbers, bools and lists of them.
        """
        parts = self._card_parts()
        models = self._card_models()
        explanandum = {**({"model": models_summary(models)} if models else {}), **parts["explanandum"]}
        return {"question": parts["question"], "explanandum": explanandum,
                "explainer": {"widget": type(self).__name__, **parts["explainer"]},
                "interpretation": parts["interpretation"]}

    def _card_parts(self) -> dict:
        """This widget's parts of :meth:`card` (subclasses give theirs): ``{"question": str,
        "explanandum": dict, "explainer": dict, "interpretation": dict}``."""
        return {"question": "What does this view show?", "explanandum": {}, "explainer": {},
                "interpretation": {}}

    def _card_models(self) -> dict:
        """The models the card summarises, by name: ``self.model`` when the widget has one."""
        model = getattr(self, "model", None)
        return {"": model} if model is not None else {}

    def _refresh_card(self) -> None:
        self._card = card_rows(self.card())

    def _on_state_change(self, change) -> None:
        name = change["name"]
        if self._card_live and name not in _NOT_CARD_STATE and self.trait_metadata(name, "sync"):
            self._refresh_card()

    def set_state(self, sync_data):
        """Apply a state update from the browser, one key at a time, never raising.

        A key not in ``_browser_traits``, or a value that fails, is ignored: the trait keeps
        its old value, ``message`` says why, and the front end is sent the kept value.

        Parameters
        ----------
        sync_data : dict
            Trait names mapped to the values the browser sent.
        """
        self._browser_update = True
        try:
            self._set_browser_state(sync_data)
        finally:
            self._browser_update = False

    @property
    def from_browser(self) -> bool:
        """Whether the trait changes being handled now came from the browser (``set_state``):
        observers start long work in the background then, so the kernel stays free to hear Cancel."""
        return getattr(self, "_browser_update", False)

    def _set_browser_state(self, sync_data) -> None:
        for key, value in sync_data.items():
            if key not in self._browser_traits:
                self.message = f"Ignored an update of {key!r} from the browser: it is read-only."
                continue
            before = getattr(self, key)
            try:
                super().set_state({key: value})
            except Exception as exc:  # a comm handler must not raise: say what was refused
                if getattr(self, key) is not before:  # a failure after validation: keep the old value
                    self.set_trait(key, before)
                self.message = f"Ignored {key} = {_short(value)} from the browser: {exc}"
                self.send_state(key)  # put the front end back in step with Python

    def _on_custom_msg(self, _widget, content, _buffers):
        if isinstance(content, dict) and content.get("kind") == "anywidget-command":
            return  # answered by anywidget's own command dispatcher
        kind = content.get("type") if isinstance(content, dict) else None
        self.message = f"Ignored an unknown message from the browser (type {kind!r})."

    def _repr_mimebundle_(self, **kwargs):
        """The live widget, plus a PNG that nbconvert and other static viewers show instead.

        The PNG is made on every display, before the view's first frame, so it is kept small:
        panels of at most PREVIEW_PANEL px and a long side of at most PREVIEW_SIDE px (a
        32-image overlay took 0.33 s and 1.4 MB at full size). ``to_png`` gives full figures."""
        data, metadata = super()._repr_mimebundle_(**kwargs)
        try:
            img = self.render_png(panel=self._preview_panel())
            if max(img.size) > PREVIEW_SIDE:
                img.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            img.save(buf, format="PNG", compress_level=1)  # speed over size
            data["image/png"] = buf.getvalue()
        except Exception as exc:  # a fallback must never break the live view
            self.message = f"Static preview unavailable: {exc}"
        return data, metadata

    def _preview_panel(self) -> int:
        """Panel size of the static preview; a widget whose figure grows with its panels
        gives one that keeps the long side near PREVIEW_SIDE, so nothing is drawn only to be
        shrunk (the preview is shrunk to PREVIEW_SIDE in any case)."""
        return min(self.size, PREVIEW_PANEL)

    def render_png(self):
        """The widget's current view as a PIL image (subclasses implement)."""
        raise NotImplementedError

    def to_png(self, path, card: bool = False, **kwargs) -> Path:
        """Write the current view as a PNG (see ``render_png`` for options).

        Parameters
        ----------
        path : str or os.PathLike or file object
            Where to write the PNG (a file is overwritten). It is tagged 300 dpi.
        card : bool, default False
            Draw the explanation card (:meth:`card`) as text under the figure. Off by default,
            so a paper figure is the figure alone (its caption says the rest); the figure's
            pixels are the same either way.
        **kwargs
            Passed on to the subclass's ``render_png`` (``panel``, ``scale``, ...).

        Returns
        -------
        pathlib.Path or file object
            ``Path(path)``, or the file object itself when one was given.
        """
        img = self.render_png(**kwargs)
        if card:
            scale = float(kwargs.get("scale", 1.0))
            width = max(img.size[0], int(round(CARD_WIDTH * scale)))
            size = max(CARD_FONT, round(img.size[0] / scale / CARD_CHARS))  # in step with the figure's own text
            img = stack_below(img, text_block(card_rows(self.card()), width, font_size=size, scale=scale))
        img.save(path, format="PNG", dpi=(300, 300))
        return Path(path) if isinstance(path, (str, os.PathLike)) else path

    def to_html(self, path, title: str | None = None, card: bool = True) -> Path:
        """Write one self-contained HTML file in which the view still reacts to the mouse.

        No kernel and no network are needed to open it.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (UTF-8; overwritten).
        title : str or None, optional
            The page title. Default None: the widget's class name.
        card : bool, default True
            Keep the "About this view" block (the explanation card, collapsed until clicked), so
            the page says what it shows wherever it is sent; False leaves it out.

        Returns
        -------
        pathlib.Path
            ``path`` as a ``Path``.
        """
        return write_html(self, path, title=title or type(self).__name__, state=None if card else {"_card": []})


class OverlayWidget(XaiWidget):
    """An image view shaded by a colour scale, with a pinned query: the traits such views share.

    ``_data`` holds the shipped tensors (wire payloads), ``_colormaps`` the lookup tables the
    browser colours with (the same ones :mod:`xai_widgets.core.colormaps` applies in Python).

    Parameters
    ----------
    **kwargs
        Initial trait values, passed on to :class:`XaiWidget`.

    Attributes
    ----------
    query : dict or None
        The pinned query (its keys depend on the subclass); None when nothing is pinned.
        Default None.
    colormap : str
        The colour scale, one of the names in ``xai_widgets.core.colormaps.LUTS``.
        Default ``"gray"``.
    vrange : list of float
        ``[lo, hi]``, the values mapped to the two ends of the colour scale. Default
        ``[0.0, 1.0]``.
    opacity : float
        The overlay's opacity, in [0, 1]. Default 0.7.
    """

    _data = traitlets.Dict().tag(sync=True)
    _colormaps = traitlets.Dict().tag(sync=True)
    query = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    colormap = Choice(sorted(colormaps.LUTS), default_value="gray").tag(sync=True)
    vrange = Span().tag(sync=True)
    opacity = Fraction(0.7).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(_colormaps={name: table.tobytes() for name, table in colormaps.LUTS.items()}, **kwargs)

    def _scale_card(self, what: str) -> dict:
        """The card's words on the colour scale: what its colours are, its map, range and opacity.

        Parameters
        ----------
        what : str
            What the colours show (``"cosine similarity to the query cell"``).

        Returns
        -------
        dict
            ``{"colours", "colour scale", "range", "opacity"}``.
        """
        lo, hi = (v + 0.0 for v in self.vrange)  # -0.0 as 0: a change to it from 0.0 does not notify
        auto = bool(getattr(self, "auto_range", False))
        span = "the min to the max of the values shown (auto range)" if auto else f"{lo:.4g} to {hi:.4g}"
        centre = ", grey centre = 0 (red above, blue below)" if self.colormap == "diverging" else ""
        return {"colours": what, "colour scale": f"{self.colormap}{centre}", "range": span,
                "opacity": self.opacity}
