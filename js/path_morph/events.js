// The controls both ways: pointer and keyboard handlers that set traits, playing, and
// syncControls (traits -> controls). Scrubbing stays in the browser; the kernel hears where it
// stopped, and is asked for one thing only: a new target class.
import { clampInt } from "../lib/panels.js";
import { fmtValue } from "../lib/chart.js";
import { kernelOnly } from "../lib/kernel.js";
import { PLAY_MS } from "./style.js";
import { num, currentStep, setTrait, className, pixel } from "./state.js";

export function syncControls(view) {
  const { M, ui } = view;
  ui.ovSelect.value = view.model.get("overlay");
  ui.opInput.value = String(num(view, "opacity", 0.6));
  ui.progress.sync();
  ui.playButton.textContent = view.playing ? "❚❚ pause" : "▶ play";
  if (M) {
    const sum = M.summary || {};
    view.status.setReadout(`self ${className(M, M.s)}, other ${className(M, M.o)} · the mask explains ${fmtValue(100 * (sum.fraction ?? NaN))}% of the gain `
      + `(J = ${fmtValue(sum.J)}, f_s(x_n) − f_s(x_1) = ${fmtValue(sum.total_gain)})`);
  }
}

function setStep(view, i, save) {
  if (!view.M) return;
  view.model.set("step", clampInt(i, 0, view.M.n - 1));
  if (save) view.model.save_changes();
}

export function stop(view) {
  if (!view.playing) return;
  clearInterval(view.playing);
  view.playing = 0;
  view.model.save_changes();
  syncControls(view);
}

function play(view) {
  if (view.playing || !view.M) return;
  if (currentStep(view) >= view.M.n - 1) setStep(view, 0, false);
  view.playing = setInterval(() => {
    if (currentStep(view) >= view.M.n - 1) stop(view);
    else setStep(view, currentStep(view) + 1, false);
  }, PLAY_MS);
  syncControls(view);
}

const togglePlay = (view) => (view.playing ? stop(view) : play(view));

export function wireControls(view) {
  const { listen, model, ui } = view;
  listen(ui.playButton, "click", () => togglePlay(view));
  listen(ui.slider, "input", () => {
    stop(view);
    setStep(view, Number(ui.slider.value), false);
  });
  listen(ui.slider, "change", () => setStep(view, Number(ui.slider.value), true));
  listen(ui.strip, "click", (ev) => {
    if (ev.target.dataset && ev.target.dataset.step) {
      stop(view);
      setStep(view, Number(ev.target.dataset.step), true);
    }
  });
  listen(ui.frameBox, "click", (ev) => probe(view, ev));
  listen(ui.bars, "click", (ev) => {
    const b = ev.target.closest("button");
    const { M } = view;
    if (!b || !M) return;
    const k = Number(b.dataset.class);
    if (k !== M.s && k !== M.o && !kernelOnly(model, `Morphing toward ${className(M, k)}`)) setTrait(view, "target", k);
  });
  listen(ui.ovSelect, "change", () => setTrait(view, "overlay", ui.ovSelect.value));
  listen(ui.opInput, "input", () => model.set("opacity", Number(ui.opInput.value)));
  listen(ui.opInput, "change", () => setTrait(view, "opacity", Number(ui.opInput.value)));
  listen(ui.smSlider, "input", () => model.set("sm_step", Number(ui.smSlider.value)));
  listen(ui.smSlider, "change", () => setTrait(view, "sm_step", Number(ui.smSlider.value)));
  listen(view.root, "keydown", (ev) => onKey(view, ev));
}

/** A click on the frame probes that pixel; a click on the probed one clears it. */
function probe(view, ev) {
  const { M, panel } = view;
  if (!panel || ev.target !== panel.canvas) return;
  const rect = panel.canvas.getBoundingClientRect();
  const col = clampInt(Math.floor(((ev.clientX - rect.left) * M.W) / rect.width), 0, M.W - 1);
  const row = clampInt(Math.floor(((ev.clientY - rect.top) * M.H) / rect.height), 0, M.H - 1);
  const p = pixel(view);
  setTrait(view, "pixel", p && p.row === row && p.col === col ? null : { row, col });
}

function onKey(view, ev) {
  const { M } = view;
  if (ev.altKey || ev.ctrlKey || ev.metaKey || !M || ev.target.tagName === "INPUT" || ev.target.tagName === "SELECT") return;
  const step = currentStep(view);
  const keys = { ArrowLeft: step - 1, ArrowRight: step + 1, Home: 0, End: M.n - 1 };
  if (ev.key in keys) {
    stop(view);
    setStep(view, keys[ev.key], true);
  } else if (ev.key === " ") togglePlay(view);
  else return;
  ev.preventDefault();
  ev.stopPropagation();
}
