// Adversarial explorer (FGSM, Goodfellow et al. 2015; BIM, Kurakin et al. 2017; C&W L2,
// Carlini and Wagner 2017) as an anywidget front-end module. Per image: x, the perturbation
// δ = x′ − x amplified to the full colour range (mid grey = 0), x′, the top-5 classes before
// and after, a flip marker, ‖δ‖∞ and ‖δ‖₂, and the attributions of x and x′ on one symmetric
// scale per image. The ε slider (and BIM's iteration slider) scrub the shipped frames in the
// browser; releasing a slider saves the frame to the kernel. A chart plots the batch's
// accuracy against the mean relative L2 change, one point per budget, the current one marked.
//
// data-* for tests: root data-eps-index and data-iteration (the drawn frame); each
// .xw-adv-row data-image and data-flipped; the x′ canvas is .xw-adv-xhat canvas; checklist
// items data-pass. While the kernel computes the frames (in the background) the header shows
// a progress bar and Cancel (span.xw-progress, lib/controls.js); with no frames (cancelled,
// failed) button.xw-adv-recompute asks the kernel to compute them again ({type: "recompute"}).
// Synced traits (xai_widgets/widgets/adversarial.py): _data, _colormaps, eps_index, iteration,
// checklist, size, progress, message.
import { elem, widgetShell } from "./lib/dom.js";
import { progressControl } from "./lib/controls.js";
import { buildChart, fillChecklist, slider } from "./adversarial/layout.js";
import { listenModel, listenSliders, rebuild, syncTask } from "./adversarial/sync.js";

function createView(shell) {
  const { root, status } = shell;
  const header = elem("div", "xw-header");
  const attackText = elem("span", "xw-caption");
  const eps = slider("budget", "xw-adv-eps");
  const iter = slider("iteration", "xw-adv-iter");
  const progress = progressControl(shell.model, shell.listen);
  const recompute = Object.assign(elem("button", "xw-adv-recompute", "Recompute"), { type: "button", hidden: true });
  header.append(attackText, eps.label, iter.label, progress.box, recompute);
  const top = elem("div", "xw-adv-top-area");
  const { chart, chartBox } = buildChart();
  const checklistBox = elem("div", "xw-adv-checklist");
  top.append(chartBox, checklistBox);
  const rowsBox = elem("div", "xw-adv-rows");
  root.append(header, top, rowsBox, status.errorBox, status.messageBox);
  shell.el.appendChild(root);
  const cmap = { cmapSelect: elem("select") }; // one fixed colour map: the diverging one
  const parts = { attackText, eps, iter, progress, recompute, top, chart, checklistBox, rowsBox, cmap };
  return { ...shell, ...parts, rows: [], e: 0, t: 0 };
}

function render({ model, el }) {
  const shell = widgetShell(model, el, "xw-adv");
  const view = createView(shell);
  listenSliders(view);
  listenModel(view);
  fillChecklist(view.checklistBox, model.get("checklist"));
  rebuild(view);
  syncTask(view);
  return () => shell.life.dispose();
}

export default { render };
