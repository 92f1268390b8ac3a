// The unit pane's text and pictures: the selected unit's statistics and prefix tokens, the
// input beside its back view, its top dataset patches and what it wants to see.
import { scaledImage } from "../lib/panels.js";
import { channelStats } from "../lib/normalise.js";
import { NEEDS_KERNEL, noKernel } from "../lib/kernel.js";
import {
  DEFAULT_OBJECTIVES, fmt, currentImage, currentUnit, objectiveFor, objectiveText, unitsShown, patchesShown,
} from "./state.js";
import { backRecord } from "./data.js";
import { relevanceLine, relevanceShown } from "./relevance.js";

export function updateUnitInfo(view) {
  const { A } = view;
  if (!A) return;
  const c = currentUnit(view);
  const n = currentImage(view);
  const s = channelStats(A.x, n * A.C * A.H * A.W, c, A.H, A.W);
  const lines = [`unit ${c} of ${A.layer} · image ${n}: max ${fmt(s.max)} at (${s.row}, ${s.col}), mean ${fmt(s.mean)}`];
  if (relevanceShown(view)) lines.push(relevanceLine(view, c));
  const u = unitsShown(view);
  if (u) {
    const flags = [u.dead[c] ? "DEAD (never active)" : "", u.constant[c] ? "CONSTANT" : ""].filter(Boolean);
    lines.push(`dataset: active in ${(100 * u.frac_active[c]).toFixed(1)}% of images${flags.length ? ` · ${flags.join(" · ")}` : ""}`);
    if (u.selectivity) lines.push(`class selectivity ${fmt(u.selectivity[c])} (prefers ${u.selective_class[c]})`);
    if (u.concept) lines.push(`concept: ${u.concept[c] || `none with IoU > ${u.detector_iou}`} (best IoU ${fmt(u.iou[c])})`);
  }
  view.ui.unitInfo.textContent = lines.join("\n");
  showPrefix(view, n, c);
  drawPatchGrid(view, c);
  drawVisual(view, c);
}

/** The prefix tokens' values (not in the tile grid, which holds the patches) for image n, channel c. */
function showPrefix(view, n, c) {
  const { prefixInfo } = view.ui;
  const { C, prefix: p } = view.A;
  prefixInfo.hidden = !p;
  if (!p) return;
  prefixInfo.textContent = p.names.map((name, t) => `${name} token: ${p.x[(n * p.P + t) * C + c].toFixed(3)}`).join("\n");
}

/** Widths of the top-patch and the activation-maximisation columns side by side in the pane. */
function foundWidths(view) {
  const vis = Math.floor(view.fit.pane * 0.36);
  return [view.fit.pane - 6 - vis, vis];
}

/** Unit c's top dataset patches in a square-ish grid, with their scores. */
function drawPatchGrid(view, c) {
  const { model, ui, patches } = view;
  const ok = patchesShown(view);
  const [colW] = foundWidths(view);
  ui.patchCol.style.width = `${colW}px`;
  ui.patchCanvas.hidden = !ok;
  const wanted = objectiveFor(view, "scan");
  if (!ok) {
    const what = `top patches (by its ${objectiveText(wanted)})`;
    ui.patchCaption.textContent = !model.get("_can_scan") ? `${what}: pass dataset= to scan`
      : noKernel(model) ? `${what}: the dataset scan ${NEEDS_KERNEL}` : `${what}: press Scan dataset`;
    return;
  }
  const k = patches.shape[1];
  const per = Math.ceil(Math.sqrt(k));
  const rowsN = Math.ceil(k / per);
  const P = Math.max(8, Math.floor(colW / per) - 2);
  const dpr = window.devicePixelRatio || 1;
  ui.patchCanvas.width = Math.round(per * (P + 2) * dpr);
  ui.patchCanvas.height = Math.round(rowsN * (P + 2) * dpr);
  ui.patchCanvas.style.width = `${per * (P + 2)}px`;
  ui.patchCanvas.style.height = `${rowsN * (P + 2)}px`;
  const ctx = ui.patchCanvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.imageSmoothingEnabled = false;
  for (let j = 0; j < k; j++) {
    const rec = patches.items[c * k + j];
    if (!rec.canvas) rec.canvas = scaledImage(rec, rec.W0, rec.H0);
    ctx.drawImage(rec.canvas, (j % per) * (P + 2) + 1, Math.floor(j / per) * (P + 2) + 1, P, P);
  }
  const vals = patches.values[c] || [];
  const stale = patches.score === "relevance" || patches.score === wanted ? "" : ` · scan again to rank by its ${objectiveText(wanted)}`;
  const by = patches.score === "relevance" ? `relevance R_c for ${patches.explains}` : objectiveText(patches.score);
  ui.patchCaption.textContent = `top ${k} patches of ${patches.n_images} images by its ${by}`
    + ` (${fmt(vals[0])} … ${fmt(vals[k - 1])})${stale}`;
}

/** Unit c's activation-maximisation image, when computed for it. */
function drawVisual(view, c) {
  const { model, ui, visuals } = view;
  const ok = visuals && visuals.layer === view.A.layer ? visuals.channels.indexOf(c) : -1;
  const [, px] = foundWidths(view);
  ui.visCol.style.width = `${px}px`;
  ui.visCanvas.hidden = ok < 0;
  const wanted = objectiveFor(view, "visualise");
  if (ok < 0) {
    const what = `what it wants to see (maximising its ${objectiveText(wanted)})`;
    ui.visCaption.textContent = noKernel(model) ? `${what}: activation maximisation ${NEEDS_KERNEL}`
      : `${what}: not computed yet (v, or the button above)`;
    return;
  }
  const rec = visuals.items[ok];
  const img = scaledImage(rec, px, px);
  ui.visCanvas.width = img.width;
  ui.visCanvas.height = img.height;
  ui.visCanvas.style.width = `${px}px`;
  ui.visCanvas.style.height = `${px}px`;
  ui.visCanvas.getContext("2d").drawImage(img, 0, 0);
  const used = (visuals.objectives || [])[ok] || DEFAULT_OBJECTIVES.visualise;
  ui.visCaption.textContent = `what it wants to see: the image maximising its ${objectiveText(used)}`
    + (used !== wanted ? ` (press v for its ${objectiveText(wanted)})` : "");
}

/** The input beside the selected unit's back view, and the caption saying which view it is. */
export function drawBackPair(view) {
  const { model, ui, images } = view;
  const n = currentImage(view);
  const mode = model.get("back_mode");
  const back = backRecord(view);
  const px = Math.floor((view.fit.pane - 6) / 2);
  const cells = [];
  if (images[n]) cells.push(scaledImage(images[n], px, Math.round((px * images[n].H0) / images[n].W0)));
  if (back) {
    const c = scaledImage(back, px, Math.round((px * back.H0) / back.W0));
    c.classList.add("xw-back");
    cells.push(c);
  }
  for (const c of cells) {
    c.style.width = `${px}px`;
    c.style.height = `${(px * c.height) / c.width}px`;
  }
  ui.backPair.replaceChildren(...cells);
  const unit = `unit ${currentUnit(view)}'s ${objectiveText(back ? back.objective : objectiveFor(view, "back"))}`;
  ui.backCaption.textContent = mode === "off" ? "input · back view off (b cycles grad / deconv / guided)"
    : back ? `input · back view: ${mode} (${model.get("back_filter")}) of ${unit}`
      : noKernel(model) ? `input · the ${mode} back view of ${unit} ${NEEDS_KERNEL}` : `input · computing ${mode} of ${unit}…`;
}
