// What each trait change redraws, the readout line, and loading everything anew.
import { channelStats } from "../lib/normalise.js";
import { fmt, currentImage, currentUnit, unitsShown } from "./state.js";
import { loadActivations, loadImageList, loadUnitData, loadLuts } from "./data.js";
import { layout, buildLayerList, buildStrip, buildGrid } from "./layout.js";
import { syncControls } from "./controls.js";
import { redraw, drawProbs } from "./draw.js";
import { drawBackPair } from "./pane.js";
import { loadRelevance, relevanceShort } from "./relevance.js";
import { buildClassList } from "./controls.js";

/** The readout: layer, unit, image and back view, and the hovered cell's values. */
export function updateReadout(view) {
  const { A, hover, model, status } = view;
  if (!A) {
    status.setReadout("");
    return;
  }
  const n = currentImage(view);
  const back = model.get("back_mode");
  const parts = [`${A.layer} · unit ${currentUnit(view)} · image ${n} · back view ${back === "off" ? "off" : `${back} (${model.get("back_filter")})`}`];
  if (hover && hover.relevance && view.rel) {
    const { rel } = view;
    const v = rel.x[hover.channel * rel.H * rel.W + hover.row * rel.W + hover.col];
    parts.push(`hover: unit ${hover.channel} · ${relevanceShort(view, hover.channel)} · pixel (${hover.row}, ${hover.col}) of its heatmap = ${fmt(v)}`);
  } else if (hover) {
    const s = channelStats(A.x, n * A.C * A.H * A.W, hover.channel, A.H, A.W);
    const i = n * A.C * A.H * A.W + hover.channel * A.H * A.W + hover.row * A.W + hover.col;
    parts.push(`hover: unit ${hover.channel} · max ${fmt(s.max)} at (${s.row}, ${s.col}) · mean ${fmt(s.mean)} · cell (${hover.row}, ${hover.col}) = ${fmt(A.x[i])}`);
    const u = unitsShown(view);
    if (u && u.concept && u.concept[hover.channel]) parts.push(`concept ${u.concept[hover.channel]}`);
  }
  status.setReadout(parts.join("\n"));
}

function refresh(view) {
  syncControls(view);
  redraw(view);
  drawBackPair(view);
  drawProbs(view);
  updateReadout(view);
}

/** Fit the layout to an output `width` px wide and draw it. */
export function relayout(view, width) {
  layout(view, width);
  buildGrid(view);
  refresh(view);
}

export function loadAll(view) {
  loadActivations(view);
  loadRelevance(view);
  buildClassList(view);
  loadImageList(view);
  loadUnitData(view);
  buildLayerList(view);
  buildStrip(view);
  buildGrid(view);
  refresh(view);
}

/** Trait changes -> what they redraw. */
export function wireModel(view, onModel) {
  const { model } = view;
  const refreshView = () => refresh(view);
  onModel("change:_acts", () => {
    view.hover = null;
    loadActivations(view);
    buildGrid(view);
    refresh(view);
  });
  onModel("change:_images", () => loadAll(view));
  onModel("change:_relevance", () => {
    view.hover = null;
    loadRelevance(view);
    refresh(view);
  });
  onModel("change:_class_names", () => buildClassList(view));
  onModel("change:mode", () => {
    view.hover = null;
    refresh(view);
  });
  onModel("change:_layer_list", () => buildLayerList(view));
  for (const name of ["_patches", "_units", "_visuals"]) {
    onModel(`change:${name}`, () => {
      loadUnitData(view);
      refresh(view);
    });
  }
  onModel("change:image", refreshView);
  for (const name of ["selected", "normalisation", "vrange", "boost", "gamma", "colormap", "zoom", "pattern", "opacity", "relevance_class"]) {
    onModel(`change:${name}`, refreshView);
  }
  for (const name of ["_back", "back_mode", "back_filter"]) {
    onModel(`change:${name}`, () => {
      syncControls(view);
      drawBackPair(view);
      if (model.get("zoom") === "back") redraw(view);
      updateReadout(view);
    });
  }
  for (const name of ["layer", "progress", "_can_scan"]) onModel(`change:${name}`, () => syncControls(view));
  onModel("change:_probs", () => drawProbs(view));
  onModel("change:size", () => view.fit.width && relayout(view, view.fit.width));
  onModel("change:unit_objective", refreshView);
  onModel("change:_colormaps", () => {
    loadLuts(view);
    redraw(view);
  });
}
