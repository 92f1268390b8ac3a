"""Standalone HTML export for anywidget widgets.

``standalone_html(widget)`` turns a live :class:`anywidget.AnyWidget` into one
self-contained HTML page that renders the widget's front-end without a Jupyter
kernel and without network access. ``write_html(widget, path)`` writes it.

Design
------
* **Front-end code.** The widget's ESM bundle (``widget._esm``; for the
  xai_widgets widgets a path to the self-contained, minified bundle built into
  ``xai_widgets/static/``) is embedded as a JSON *string* inside a
  ``<script type="application/json">`` block and imported at runtime with
  ``await import(URL.createObjectURL(new Blob([src], {type: "text/javascript"})))``.
  Keeping the code as data (rather than inlining it as a module script) means
  the bundle is never parsed as HTML, works from ``file://`` URLs and keeps
  ``import.meta``/top-level ``export`` semantics intact.
* **State.** The synced state comes from ``widget.get_state()`` (what the
  kernel would send to the browser). It is walked recursively; binary values
  (``bytes``, ``bytearray``, ``memoryview``, contiguous numpy arrays) become
  ``{"__xw_b64__": "<base64>"}`` and are turned back into ``DataView`` objects
  in the page -- the same type ipywidgets hands to a widget for binary
  buffers. Each buffer is deliberately placed at a non-zero, odd byteOffset of
  a larger ``ArrayBuffer`` so the page exercises the decoder's
  unaligned-buffer path exactly like real ipywidgets buffers can.
  ``_esm`` and ``_css`` are removed from the model state (``_esm`` is
  embedded separately; ``_css``, if any, is injected as a ``<style>``).
* **Model.** A minimal stand-in for the anywidget model API the front-end uses:
  ``get(name)``, ``set(name, value)`` (fires ``change:name`` listeners then
  ``change``, synchronously, like Backbone; callbacks receive
  ``(model, value)``), ``save_changes()`` (no-op), ``on(events, cb)`` /
  ``off(events?, cb?)`` (space-separated event names allowed), ``send()``
  (see *No kernel* below) and a ``widget_manager`` stub. Both anywidget module shapes are
  supported: ``export default {initialize?, render}``, a default export that is
  a function returning that object, and named ``render`` exports. The model is
  exposed as ``window.xwModel`` (and the render cleanup as ``window.xwCleanup``)
  so tests and curious users can drive the page from the console.
* **Styling.** Default (light theme) values for the JupyterLab CSS variables the
  widgets use are declared on ``:root``; a page embedding the output can
  override them (e.g. with dark values).
* **Escaping.** Everything embedded in ``<script>`` blocks is JSON in which
  ``<``, ``>``, ``&``, U+2028 and U+2029 are written as ``\\uXXXX`` escapes,
  so no ``</script>`` or ``<!--`` sequence can end or confuse a script block.
  The page title is HTML-escaped.
* **No kernel.** The page adds ``_no_kernel: true`` to the state, so a front end can say
  "needs the live notebook kernel" where it would otherwise wait for the kernel forever; a task
  that was running at export is shown as not running (it can never finish here). A custom
  message the front end sends (``model.send``) goes nowhere: the page puts a sentence saying
  so in the widget's ``message`` line instead.

Notebooks exported with nbconvert
---------------------------------
Every xai_widgets widget's display carries a PNG of its current view next to the widget view
(``XaiWidget._repr_mimebundle_``). ``jupyter nbconvert --to html`` shows that PNG only when the
notebook holds no widget state (JupyterLab saves none by default); when it does -- any notebook
run by nbclient, i.e. ``jupyter nbconvert --execute``, ``jupyter execute`` or papermill, or saved
with JupyterLab's "save widget state" on -- nbconvert picks the widget view instead and writes an
empty placeholder that only a widget manager downloaded from a CDN could fill (nothing at all
offline). :func:`static_previews` is an nbconvert preprocessor that removes the xai_widgets
models from the saved state of the exported copy, so nbconvert falls back to the PNG::

    jupyter nbconvert --to html --HTMLExporter.preprocessors=xai_widgets.core.export.static_previews nb.ipynb
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["standalone_html", "static_previews", "write_html"]

B64_KEY = "__xw_b64__"
NO_KERNEL_KEY = "_no_kernel"  # set in the page's state only: a front end reads it to say what needs the kernel
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
MODEL_REF = "IPY_MODEL_"

# Light-theme defaults for the JupyterLab CSS variables used by the widgets.
JP_LIGHT_VARS: dict[str, str] = {
    "--jp-ui-font-family": 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
    "--jp-code-font-family": 'Menlo, Consolas, "DejaVu Sans Mono", monospace',
    "--jp-ui-font-size0": "11px",
    "--jp-ui-font-size1": "13px",
    "--jp-ui-font-size2": "15px",
    "--jp-ui-font-color0": "rgba(0, 0, 0, 1)",
    "--jp-ui-font-color1": "rgba(0, 0, 0, 0.87)",
    "--jp-ui-font-color2": "rgba(0, 0, 0, 0.54)",
    "--jp-ui-font-color3": "rgba(0, 0, 0, 0.38)",
    "--jp-layout-color0": "#ffffff",
    "--jp-layout-color1": "#ffffff",
    "--jp-layout-color2": "#eeeeee",
    "--jp-layout-color3": "#bdbdbd",
    "--jp-border-color0": "#bdbdbd",
    "--jp-border-color1": "#bdbdbd",
    "--jp-border-color2": "#e0e0e0",
    "--jp-border-color3": "#eeeeee",
    "--jp-brand-color1": "#1976d2",
    "--jp-warn-color1": "#f57c00",
    "--jp-warn-color3": "#ffe0b2",
    "--jp-error-color1": "#d32f2f",
    "--jp-error-color3": "#ffcdd2",
}

_EXCLUDED_STATE = ("_esm", "_css")


def _script_json(value: Any) -> str:
    """JSON that is safe to place verbatim inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _encode_state(value: Any) -> Any:
    """Make widget state JSON-serialisable; binary values become base64 markers."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = value.tobytes() if isinstance(value, memoryview) else bytes(value)
        return {B64_KEY: base64.b64encode(raw).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _encode_state(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_state(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    # numpy scalars / arrays without importing numpy at module level
    tobytes = getattr(value, "tobytes", None)
    item = getattr(value, "item", None)
    if getattr(value, "shape", None) == () and callable(item):
        return _encode_state(item())
    if callable(tobytes):
        return {B64_KEY: base64.b64encode(tobytes()).decode("ascii")}
    raise TypeError(f"cannot embed widget state value of type {type(value).__name__}")


def _esm_source(widget: Any, state: dict[str, Any]) -> str:
    src = state.get("_esm")
    if not isinstance(src, str) or not src.strip():
        esm = getattr(widget, "_esm", None)
        src = str(esm) if esm is not None else ""
    if "\n" not in src.strip() and os.path.isfile(src.strip()):
        with open(src.strip(), encoding="utf-8") as fh:
            src = fh.read()
    stripped = src.strip()
    if not stripped:
        raise ValueError("widget has no _esm front-end code to embed")
    if stripped.startswith(("http://", "https://")) and "\n" not in stripped:
        raise ValueError("widget _esm is a URL; a standalone page needs the bundle source")
    return src


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{
{css_vars}
}}
html, body {{ margin: 0; background: var(--jp-layout-color0, #fff); color: var(--jp-ui-font-color1, #222); }}
body {{ font-family: var(--jp-ui-font-family, system-ui, sans-serif); font-size: var(--jp-ui-font-size1, 13px); }}
#xw-root {{ padding: 12px; }}
#xw-load-error {{ color: var(--jp-error-color1, #d32f2f); white-space: pre-wrap; font-family: var(--jp-code-font-family, monospace); }}
</style>
</head>
<body>
<div id="xw-root" class="xw-standalone"></div>
<script type="application/json" id="xw-state">{state_json}</script>
<script type="application/json" id="xw-esm">{esm_json}</script>
<script type="application/json" id="xw-css">{css_json}</script>
<script type="module">
const B64 = {b64_key};
function b64ToDataView(text, pad) {{
  const bin = atob(text);
  const buf = new ArrayBuffer(bin.length + pad + 8);
  const bytes = new Uint8Array(buf, pad, bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new DataView(buf, pad, bin.length);
}}
let nbuf = 0;
function revive(v) {{
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") {{
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === B64 && typeof v[B64] === "string") {{
      // odd, non-zero byte offsets on purpose: decoders must not assume alignment
      return b64ToDataView(v[B64], 1 + 2 * (nbuf++ % 4));
    }}
    const out = {{}};
    for (const k of keys) out[k] = revive(v[k]);
    return out;
  }}
  return v;
}}
class StandaloneModel {{
  constructor(state) {{
    this._state = state;
    this._listeners = new Map();
    this.widget_manager = {{
      async get_model() {{ throw new Error("no widget manager in a standalone page"); }},
    }};
  }}
  get(name) {{ return this._state[name]; }}
  set(name, value) {{
    const old = this._state[name];
    this._state[name] = value;
    if (old !== value) {{
      this._emit("change:" + name, value);
      this._emit("change", undefined);
    }}
  }}
  save_changes() {{}}
  send(content) {{
    // a custom message is a request to the kernel, and this page has none: say so in the widget
    const what = content && typeof content.type === "string" ? "\u201c" + content.type + "\u201d" : "This request";
    this.set("message", what + " needs the live notebook kernel: this page was exported without one.");
  }}
  on(events, cb, context) {{
    for (const ev of String(events).split(/\\s+/).filter(Boolean)) {{
      if (!this._listeners.has(ev)) this._listeners.set(ev, []);
      this._listeners.get(ev).push({{ cb, context }});
    }}
  }}
  off(events, cb) {{
    if (events == null) {{
      if (cb == null) {{ this._listeners.clear(); return; }}
      for (const [ev, list] of this._listeners) this._listeners.set(ev, list.filter((l) => l.cb !== cb));
      return;
    }}
    for (const ev of String(events).split(/\\s+/).filter(Boolean)) {{
      if (cb == null) this._listeners.delete(ev);
      else if (this._listeners.has(ev)) this._listeners.set(ev, this._listeners.get(ev).filter((l) => l.cb !== cb));
    }}
  }}
  _emit(ev, value) {{
    const list = this._listeners.get(ev);
    if (!list) return;
    for (const {{ cb, context }} of list.slice()) cb.call(context ?? this, this, value);
  }}
}}
async function main() {{
  const el = document.getElementById("xw-root");
  try {{
    const state = revive(JSON.parse(document.getElementById("xw-state").textContent));
    const src = JSON.parse(document.getElementById("xw-esm").textContent);
    const css = JSON.parse(document.getElementById("xw-css").textContent);
    if (css) {{
      const style = document.createElement("style");
      style.textContent = css;
      document.head.appendChild(style);
    }}
    const model = new StandaloneModel(state);
    window.xwModel = model;
    const url = URL.createObjectURL(new Blob([src], {{ type: "text/javascript" }}));
    let mod;
    try {{ mod = await import(url); }} finally {{ URL.revokeObjectURL(url); }}
    let widget = mod.default ?? mod;
    if (typeof widget === "function") widget = await widget();
    if (widget && typeof widget.initialize === "function") await widget.initialize({{ model }});
    const render = widget && typeof widget.render === "function" ? widget.render : mod.render;
    if (typeof render !== "function") throw new Error("widget module has no render()");
    window.xwCleanup = await render.call(widget, {{ model, el }});
    document.documentElement.dataset.xwReady = "1";
  }} catch (err) {{
    const box = document.createElement("pre");
    box.id = "xw-load-error";
    box.textContent = "Could not render widget: " + (err && err.stack ? err.stack : err);
    el.appendChild(box);
    document.documentElement.dataset.xwReady = "error";
    throw err;
  }}
}}
main();
</script>
</body>
</html>
"""


def standalone_html(widget: Any, title: str = "xai_widgets", state: dict | None = None) -> str:
    """Return one self-contained HTML page rendering ``widget`` (no kernel, no network).

    ``widget`` is an :class:`anywidget.AnyWidget` whose ``_esm`` is (a path to) a
    self-contained ES module bundle. The page renders the widget's current
    synced state; everything handled in the front-end works, and what needs the
    kernel (Python callbacks) says so in the page instead of waiting.

    Parameters
    ----------
    widget : anywidget.AnyWidget
        The widget; its ``get_state()`` (plus its ``_export_state()``, if it has one) is embedded.
    title : str, default "xai_widgets"
        The page title (HTML-escaped).
    state : dict or None, default None
        Trait values that replace the widget's own in the page only (the live widget is not
        changed), e.g. an empty explanation card.

    Returns
    -------
    str
        The HTML page.

    Raises
    ------
    ValueError
        If the widget has no ``_esm`` code, or its ``_esm`` is a URL.
    TypeError
        If a state value cannot be embedded.
    """
    overrides = state or {}
    state = dict(widget.get_state())
    # a widget may ship extra state for the page alone, e.g. precomputed answers to what the kernel would do
    state.update(getattr(widget, "_export_state", dict)())
    state.update(overrides)
    src = _esm_source(widget, state)
    css = state.get("_css")
    css = css if isinstance(css, str) else ""
    for key in _EXCLUDED_STATE:
        state.pop(key, None)
    state[NO_KERNEL_KEY] = True
    progress = state.get("progress")
    if isinstance(progress, dict) and progress.get("running"):
        state["progress"] = {**progress, "running": False}  # no kernel here to finish it
    css_vars = "\n".join(f"  {name}: {value};" for name, value in JP_LIGHT_VARS.items())
    return _PAGE.format(
        title=html.escape(str(title)),
        css_vars=css_vars,
        state_json=_script_json(_encode_state(state)),
        esm_json=_script_json(src),
        css_json=_script_json(css),
        b64_key=json.dumps(B64_KEY),
    )


def write_html(widget: Any, path: str | os.PathLike[str], title: str = "xai_widgets",
               state: dict | None = None) -> Path:
    """Write :func:`standalone_html` for ``widget`` to ``path`` (UTF-8); returns the path.

    Parameters
    ----------
    widget : anywidget.AnyWidget
        The widget.
    path : str or os.PathLike
        The file to write (overwritten).
    title : str, default "xai_widgets"
        The page title.
    state : dict or None, default None
        Trait values for the page only (see :func:`standalone_html`).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    text = standalone_html(widget, title=title, state=state)
    out = Path(path)
    out.write_text(text, encoding="utf-8")
    return out


def _model_refs(value: Any) -> set[str]:
    """Ids of the widget models a state value refers to (``"IPY_MODEL_<id>"`` strings)."""
    if isinstance(value, str):
        return {value[len(MODEL_REF):]} if value.startswith(MODEL_REF) else set()
    if isinstance(value, dict):
        return set().union(*(_model_refs(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(_model_refs(v) for v in value)) if value else set()
    return set()


def static_previews(nb: Any, resources: Any = None) -> tuple[Any, Any]:
    """nbconvert preprocessor: each xai_widgets widget output shows as its PNG in the export.

    nbconvert's HTML exporter renders a widget output as the live widget (an empty placeholder
    plus a widget manager fetched from a CDN) whenever the notebook's metadata holds that
    widget's state, which nbclient always saves. This removes from the notebook (the copy
    nbconvert exports) the state of every xai_widgets model whose every displayed output
    carries a PNG, and the models (their layouts) that only they referred to, so nbconvert falls
    back to the PNG. Other widgets' state is kept, with everything it refers to. Use it as
    ``jupyter nbconvert --to html --HTMLExporter.preprocessors=xai_widgets.core.export.static_previews nb.ipynb``
    (it runs after ``--execute``), or ``HTMLExporter(preprocessors=[static_previews])``.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook (a dict-like node), changed in place.
    resources : object, optional
        nbconvert's resources, passed through.

    Returns
    -------
    tuple
        ``(nb, resources)``.
    """
    widgets = nb.get("metadata", {}).get("widgets")
    doc = widgets.get(WIDGET_STATE_MIME) if isinstance(widgets, dict) else None
    states = doc.get("state") if isinstance(doc, dict) else None
    if not isinstance(states, dict) or not states:
        return nb, resources
    ours = {mid for mid, entry in states.items()
            if str(((entry or {}).get("state") or {}).get("_anywidget_id", "")).startswith("xai_widgets.")}
    with_png: set[str] = set()
    without_png: set[str] = set()
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            view = (out.get("data") or {}).get(WIDGET_VIEW_MIME)
            if isinstance(view, dict) and view.get("model_id") in ours:
                (with_png if "image/png" in out["data"] else without_png).add(view["model_id"])
    drop = with_png - without_png
    if not drop:
        return nb, resources
    refs = {mid: _model_refs((entry or {}).get("state")) for mid, entry in states.items()}
    referred = set().union(*refs.values())
    kept, todo = set(), [mid for mid in states if mid not in drop and mid not in referred]
    while todo:  # from every other top-level model, keep what it refers to (a layout, a child...)
        mid = todo.pop()
        if mid in states and mid not in kept:
            kept.add(mid)
            todo.extend(refs[mid])
    doc["state"] = {mid: entry for mid, entry in states.items() if mid in kept}
    if not doc["state"] and set(widgets) == {WIDGET_STATE_MIME}:
        del nb["metadata"]["widgets"]  # no state left: nbconvert then adds no widget-manager script either
    return nb, resources
