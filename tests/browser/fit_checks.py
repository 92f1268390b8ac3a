"""What the layout tests measure in a page: overflow, linked parts on one screen, legend ticks."""
from __future__ import annotations

OVERFLOW = """(rootSel) => {
  const root = document.querySelector(rootSel);
  const box = root.getBoundingClientRect();
  const name = (e) => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
  const out = [];
  for (const e of [root, ...root.querySelectorAll('*')]) {
    if (e.closest('[hidden], style, details:not([open]) > :not(summary)')) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > box.right + 1 || r.left < box.left - 1) out.push(`${name(e)} spans ${Math.round(r.left - box.left)}..${Math.round(r.right - box.left)} px of ${Math.round(box.width)}`);
    const ox = getComputedStyle(e).overflowX;
    if (ox !== 'visible' && e.scrollWidth > e.clientWidth + 1) out.push(`${name(e)} is cut or scrolls: ${e.scrollWidth} px of content in ${e.clientWidth} px`);
  }
  return out;
}"""

SPAN = """(sels) => {
  const rects = sels.map((s) => { const e = document.querySelector(s); return e ? e.getBoundingClientRect() : null; });
  if (rects.some((r) => !r)) return null;
  return {top: Math.min(...rects.map((r) => r.top + scrollY)), bottom: Math.max(...rects.map((r) => r.bottom + scrollY)),
          right: Math.max(...rects.map((r) => r.right)), viewH: innerHeight, viewW: document.documentElement.clientWidth};
}"""

LEGENDS = """(rootSel) => {
  const out = [];
  for (const lg of document.querySelectorAll(`${rootSel} .xw-legend`)) {
    if (lg.closest('[hidden]')) continue;
    const bar = lg.querySelector('canvas.xw-colorbar');
    if (!bar || bar.closest('[hidden]')) continue;
    const b = bar.getBoundingClientRect(), lo = Number(bar.dataset.lo), hi = Number(bar.dataset.hi);
    const ticks = [];
    for (const t of lg.querySelectorAll('.xw-tick')) {
      const r = t.getBoundingClientRect(), v = Number(t.dataset.value);
      const want = b.left + Math.min(1, Math.max(0, (v - lo) / (hi > lo ? hi - lo : 1))) * b.width;
      ticks.push({text: t.textContent, value: v, centre: (r.left + r.right) / 2, want, top: r.top, barBottom: b.bottom});
    }
    out.push({lo, hi, barWidth: b.width, ticks});
  }
  return out;
}"""


def overflow(page, root: str = "#xw-root") -> list[str]:
    """Everything inside ``root`` that sticks out of it sideways, or is cut / scrolls sideways."""
    return page.evaluate(OVERFLOW, root)


def one_screen(page, *selectors: str) -> bool:
    """Whether the parts named fit in one viewport together (so one scroll position shows all)."""
    s = page.evaluate(SPAN, list(selectors))
    assert s is not None, f"missing part among {selectors}"
    return s["bottom"] - s["top"] <= s["viewH"] and s["right"] <= s["viewW"]


def legends(page, root: str = "#xw-root") -> list[dict]:
    """Every visible colour legend: each tick label's centre and where its value lies on the bar."""
    return page.evaluate(LEGENDS, root)


def assert_legends_aligned(page, root: str = "#xw-root") -> None:
    """Every tick label is centred (within a pixel) on its value's place on the bar, under it."""
    found = legends(page, root)
    assert found, "no visible colour legend"
    for lg in found:
        assert lg["ticks"], f"a colour bar without tick labels: {lg}"
        for t in lg["ticks"]:
            # half a CSS pixel of rounding each for the label box and the bar
            assert abs(t["centre"] - t["want"]) <= 1.0, (lg, t)
            assert t["top"] >= t["barBottom"] - 0.5, (lg, t)
