// The per-map sliders: scrubbing redraws in the browser; the image column shows the active
// slider's image (the one hovered or focused).
import { setPosition } from "./state.js";
import { drawCell, drawImage } from "./draw.js";
import { readoutAt } from "./probe.js";

/** Show position p of slider (i, j): drawn in the next frame; `save` tells the kernel. */
export function moveSlider(app, i, j, p, save) {
  setPosition(app, i, j, p, save);
  app.active = { i, j };
  app.frames.queue(() => {
    if (!app.M) return;
    drawCell(app, i, j);
    drawImage(app, i);
    const { probe } = app;
    if (probe && probe.i === i && probe.t && probe.t.dataset.col === String(j)) readoutAt(app, i, j, probe.row, probe.col);
  });
}

/** The slider whose image the image column shows ({i, j}, or null for the plain images). */
export function setActive(app, a) {
  const prev = app.active;
  app.active = a;
  if (prev && (!a || prev.i !== a.i)) drawImage(app, prev.i);
  if (a) drawImage(app, a.i);
}
