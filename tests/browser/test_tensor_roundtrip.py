"""Tensor wire format round trip: numpy -> bytes -> DataView -> js/lib/tensor.js decode.

Arrays are encoded in Python with a tiny local encoder that follows the wire format
(``{shape, dtype, scale, offset, data}``, little-endian, C order), handed to headless
Chromium as base64, placed in DataViews at aligned and unaligned byte offsets, decoded
in the browser and compared with numpy bit for bit (the decoded Float32Array's bytes are
sent back). Both the source module and the built ESM bundle are checked.

Also checks that a standalone HTML export (xai_widgets.core.export) hands binary state to the
front end as DataViews the decoder reads correctly, with the network blocked.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "js" / "lib" / "tensor.js"
BUNDLE = ROOT / "xai_widgets" / "static" / "tensor.js"
OFFSETS = [0, 1, 2, 3, 4, 5, 7, 8]


def encode(a: np.ndarray, dtype: str, scale: float = 1.0, offset: float = 0.0) -> dict:
    """Local reference encoder of the wire format (independent of xai_widgets.core.wire)."""
    np_dtype = {"float32": "<f4", "float16": "<f2", "uint8": "u1"}[dtype]
    a = np.ascontiguousarray(a, dtype=np_dtype)
    return {"shape": list(a.shape), "dtype": dtype, "scale": scale, "offset": offset, "data": a.tobytes()}


def expected(payload: dict) -> np.ndarray:
    """The float32 values a payload stands for (uint8: float32 raw * scale + offset)."""
    np_dtype = {"float32": "<f4", "float16": "<f2", "uint8": "u1"}[payload["dtype"]]
    raw = np.frombuffer(payload["data"], dtype=np_dtype).reshape(payload["shape"])
    values = raw.astype(np.float32)
    if payload["dtype"] == "uint8":
        values = values * np.float32(payload["scale"]) + np.float32(payload["offset"])
    return values


def cases() -> dict[str, dict]:
    rng = np.random.default_rng(0)
    f32 = rng.normal(size=(3, 5, 7)).astype(np.float32)
    f32.flat[:8] = [np.nan, np.inf, -np.inf, -0.0, 1e-45, -1.17e-38, 3.4e38, 0.0]
    all_halves = np.arange(65536, dtype=np.uint16).view(np.float16).reshape(256, 256)
    special = np.array(
        [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 6e-8, -6e-8, 6.1e-5, 65504, -65504, 1.0, -2.5],
        dtype=np.float16,
    )
    acts = rng.normal(size=(4, 6, 9)).astype(np.float16)  # odd channel count: odd sizes everywhere
    u8 = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    u8.flat[:2] = [0, 255]
    return {
        "f32": encode(f32, "float32"),
        "f32_scalar": encode(np.array(np.float32(-1.5)), "float32"),
        "f16_all_bit_patterns": encode(all_halves, "float16"),
        "f16_special": encode(special, "float16"),
        "f16_acts": encode(acts, "float16"),
        "u8_affine": encode(u8, "uint8", scale=0.0123456789, offset=-1.75),
        "u8_identity": encode(u8, "uint8"),
        "u8_pixels_scale_ignored_by_bytesOf": encode(u8[:, :, 0], "uint8", scale=2.0, offset=3.0),
        "empty": encode(np.zeros((0, 4), np.float32), "float16"),
    }


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<script type="application/json" id="src">{src}</script>
<script type="application/json" id="cases">{cases}</script>
<script type="module">
const src = JSON.parse(document.getElementById("src").textContent);
const url = URL.createObjectURL(new Blob([src], {{type: "text/javascript"}}));
const mod = await import(url);
function b64ToBytes(t) {{
  const s = atob(t); const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}}
function bytesToB64(b) {{
  let s = ""; for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}}
window.runCases = (offsets) => {{
  const cases = JSON.parse(document.getElementById("cases").textContent);
  const out = {{}};
  for (const [name, c] of Object.entries(cases)) {{
    const raw = b64ToBytes(c.data);
    for (const off of offsets) {{
      const buf = new ArrayBuffer(raw.length + off + 5);
      new Uint8Array(buf, off, raw.length).set(raw);
      const payload = {{...c, data: new DataView(buf, off, raw.length)}};
      const dec = mod.decode(payload);
      const bytes = mod.bytesOf(payload);
      out[name + "@" + off] = {{
        shape: dec.shape,
        isF32: dec.data instanceof Float32Array,
        length: dec.data.length,
        values: bytesToB64(new Uint8Array(dec.data.buffer, dec.data.byteOffset, dec.data.byteLength)),
        raw: bytesToB64(bytes),
        rawOffset: bytes.byteOffset,
      }};
    }}
  }}
  // a too-short buffer must throw instead of reading garbage
  try {{
    mod.decode({{shape: [4], dtype: "float32", scale: 1, offset: 0, data: new DataView(new ArrayBuffer(9), 1, 8)}});
    out.short = "no error";
  }} catch (err) {{
    out.short = err.name;
  }}
  return out;
}};
window.ready = true;
</script></body></html>
"""


def _script_json(value) -> str:
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@pytest.fixture
def browser(chromium):
    """The session's headless Chromium (tests/browser/conftest.py)."""
    return chromium


def _offline_page(browser, html_path: Path):
    page = browser.new_page()
    page.route("http://*/**", lambda route: route.abort())
    page.route("https://*/**", lambda route: route.abort())
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(html_path.as_uri())
    return page, errors


@pytest.mark.parametrize("module", ["source", "bundle"])
def test_decode_matches_numpy_bit_for_bit(browser, tmp_path, module):
    path = SOURCE if module == "source" else BUNDLE
    assert path.exists(), f"{path} not built (npm --prefix js run build)"
    payloads = cases()
    wire = {
        name: {**{k: v for k, v in p.items() if k != "data"}, "data": base64.b64encode(p["data"]).decode()}
        for name, p in payloads.items()
    }
    html_path = tmp_path / "roundtrip.html"
    html_path.write_text(
        PAGE.format(src=_script_json(path.read_text(encoding="utf-8")), cases=_script_json(wire)),
        encoding="utf-8",
    )
    page, errors = _offline_page(browser, html_path)
    page.wait_for_function("window.ready === true", timeout=10_000)
    result = page.evaluate("(offsets) => window.runCases(offsets)", OFFSETS)
    page.close()
    assert not errors, errors
    assert result.pop("short") == "RangeError"

    for name, payload in payloads.items():
        want = expected(payload)
        want_bits = want.astype("<f4").view("<u4").ravel()
        for off in OFFSETS:
            got = result[f"{name}@{off}"]
            assert got["isF32"], name
            assert got["shape"] == payload["shape"], (name, off)
            assert got["length"] == want.size, (name, off)
            bits = np.frombuffer(base64.b64decode(got["values"]), dtype="<u4")
            bad = np.flatnonzero(bits != want_bits)
            assert bad.size == 0, (
                f"{name} at byteOffset {off}: {bad.size} values differ, first at {bad[0]}: "
                f"got {bits[bad[0]]:#010x}, numpy {want_bits[bad[0]]:#010x}"
            )
            # bytesOf: the raw payload bytes, as a view at the DataView's own offset
            assert base64.b64decode(got["raw"]) == payload["data"], (name, off)
            assert got["rawOffset"] == off, (name, off)


class _FakeWidget:
    """Just enough of an AnyWidget for xai_widgets.core.export (get_state + _esm source)."""

    _esm = """
    import { decode, bytesOf } from "TENSOR_URL";
    export default {
      render({ model, el }) {
        const out = {};
        for (const [name, p] of Object.entries(model.get("payloads"))) {
          const d = decode(p);
          out[name] = { isDataView: p.data instanceof DataView, byteOffset: p.data.byteOffset,
                        shape: d.shape, values: Array.from(d.data, (v) => (Object.is(v, -0) ? "-0" : Number.isFinite(v) ? v : String(v))) };
        }
        out.cmapBytes = Array.from(bytesOf(model.get("cmap")).subarray(0, 6));
        const pre = document.createElement("pre");
        pre.id = "result";
        pre.textContent = JSON.stringify(out);
        el.appendChild(pre);
        return () => pre.remove();
      },
    };
    """

    def __init__(self, state: dict):
        self._state = state

    def get_state(self):
        return {"_esm": self._esm, **self._state}


def test_standalone_export_hands_dataviews_to_decoder(browser, tmp_path):
    from xai_widgets.core import export

    assert BUNDLE.exists(), f"{BUNDLE} not built (npm --prefix js run build)"
    f16 = np.array([[0.5, -0.0, np.inf], [6e-8, -2.0, np.nan]], dtype=np.float16)
    u8 = np.array([[0, 17, 255]], dtype=np.uint8)
    state = {
        "payloads": {"acts": encode(f16, "float16"), "img": encode(u8, "uint8", scale=0.5, offset=-1.0)},
        "cmap": bytes(range(256)) * 3,
        "title": "</script><script>window.pwned = 1</script>",
    }
    # The test module imports the decoder from the built bundle (inlined as a data: URL).
    tensor_src = BUNDLE.read_text(encoding="utf-8")
    data_url = "data:text/javascript;base64," + base64.b64encode(tensor_src.encode()).decode()
    widget = _FakeWidget(state)
    widget._esm = widget._esm.replace("TENSOR_URL", data_url)
    html_path = tmp_path / "standalone.html"
    export.write_html(widget, html_path, title="a </title><b>title</b>")
    text = html_path.read_text(encoding="utf-8")
    assert "</script><script>window.pwned" not in text
    page, errors = _offline_page(browser, html_path)
    page.wait_for_selector("#result", timeout=10_000)
    got = json.loads(page.text_content("#result"))
    assert page.evaluate("window.pwned") is None
    assert page.title() == "a </title><b>title</b>"
    page.close()
    assert not errors, errors
    for name in ("acts", "img"):
        assert got[name]["isDataView"]
        assert got[name]["byteOffset"] % 2 == 1  # deliberately unaligned
    for name in ("acts", "img"):
        values = np.array([float(v) for v in got[name]["values"]], dtype=np.float32)  # "NaN", "-0", ...
        want = expected(state["payloads"][name]).ravel()
        assert got[name]["shape"] == state["payloads"][name]["shape"]
        np.testing.assert_array_equal(values.view(np.uint32) & 0xFFBFFFFF, want.view(np.uint32) & 0xFFBFFFFF)
    assert got["cmapBytes"] == [0, 1, 2, 3, 4, 5]
