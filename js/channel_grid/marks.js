// The marks overlay over the tiles: badges from the dataset scan (dead, constant, detector
// units), the selected and hovered outlines, and the key to the badges under the grid.
import { elem } from "../lib/dom.js";
import { currentUnit, unitsShown } from "./state.js";
import { shownGeometry, tileBox } from "./relevance.js";

const SELECTED = "#80ff80"; // DeepVis cursor (.5, 1, .5)
const HOVER = "#ffff00";
const BADGES = { dead: "#e15759", constant: "#f28e2b" }; // Tableau 10's red and orange

/** The badge of unit c from the scan summary `u`: "dead", "constant", "detector" (a concept above the IoU threshold) or null. */
const badgeOf = (u, c) => (u.dead[c] ? "dead" : u.constant[c] ? "constant" : u.concept && u.concept[c] ? "detector" : null);
/** Dead and constant badges have their own colours; a detector's is its concept's. */
const badgeColour = (u, c, kind) => (kind === "detector" ? u.concept_colour[u.concept[c]] : BADGES[kind]);

/** Badge triangles in the tiles' corners, and the tiles a hovered key entry names framed, the rest dimmed; returns the count per badge. */
function drawBadges(view, ctx, u) {
  const { G, keyHover } = view;
  const counts = { dead: 0, constant: 0, detector: 0 };
  for (let c = 0; c < G.C; c++) {
    const kind = badgeOf(u, c);
    const [x, y, w, h] = tileBox(view, c);
    if (kind) {
      counts[kind]++;
      const s = Math.max(5, Math.min(12, w / 3));
      ctx.fillStyle = badgeColour(u, c, kind);
      ctx.beginPath();
      ctx.moveTo(x + w - s, y);
      ctx.lineTo(x + w, y);
      ctx.lineTo(x + w, y + s);
      ctx.fill();
    }
    if (keyHover && !keyHover(c)) {
      ctx.fillStyle = "rgba(0,0,0,0.6)"; // a key entry is hovered: the tiles it does not name step back
      ctx.fillRect(x, y, w, h);
    } else if (keyHover) {
      ctx.strokeStyle = badgeColour(u, c, kind); // and the ones it names are framed in its colour
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
    }
  }
  return counts;
}

/** The marks canvas sized to the tiles shown (relevance tiles have their own height). */
function fitMarks(marks, G) {
  const dpr = window.devicePixelRatio || 1;
  const [w, h] = [Math.round(G.cssW * dpr), Math.round(G.cssH * dpr)];
  if (marks.width === w && marks.height === h) return;
  Object.assign(marks, { width: w, height: h });
  Object.assign(marks.style, { width: `${G.cssW}px`, height: `${G.cssH}px` });
}

export function drawMarks(view) {
  const { marks, hover } = view;
  const G = shownGeometry(view);
  fitMarks(marks, G);
  const ctx = marks.getContext("2d");
  const dpr = marks.width / G.cssW;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, G.cssW, G.cssH);
  const u = unitsShown(view);
  const counts = u ? drawBadges(view, ctx, u) : { dead: 0, constant: 0, detector: 0 };
  const outline = (c, color, width) => {
    const [x, y, w, h] = tileBox(view, c);
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.strokeRect(x - width / 2, y - width / 2, w + width, h + width);
  };
  if (hover && hover.channel !== currentUnit(view)) outline(hover.channel, HOVER, 1.5);
  outline(currentUnit(view), SELECTED, 2.5);
  drawBadgeKey(view, u, counts);
}

/** One entry of the badge key; hovering it picks the tiles `picks` names on the marks. */
function keyEntry(view, colour, text, picks) {
  const span = elem("span", "xw-badge");
  const swatch = elem("span", "xw-swatch");
  swatch.style.background = colour;
  span.append(swatch, document.createTextNode(text));
  span.addEventListener("pointerenter", () => { view.keyHover = picks; drawMarks(view); });
  span.addEventListener("pointerleave", () => { view.keyHover = null; drawMarks(view); });
  return span;
}

/** The detector rule and one entry per concept colour (past the palette, several concepts share grey). */
function conceptEntries(view, u, counts) {
  const { C } = view.A;
  const rule = elem("span", "xw-badge-rule");
  rule.textContent = `detectors, best concept IoU > ${u.detector_iou} (Network Dissection, Bau et al. 2017): `
    + `${counts.detector} of ${C} units, ${u.unique_detectors} distinct concepts`;
  const parts = [rule];
  const isDetector = (c) => badgeOf(u, c) === "detector";
  const byColour = new Map(); // colour -> concepts
  for (const [name, colour] of Object.entries(u.concept_colour)) byColour.set(colour, [...(byColour.get(colour) || []), name]);
  for (const [colour, names] of byColour) {
    const picks = (c) => isDetector(c) && names.includes(u.concept[c]);
    let n = 0;
    for (let c = 0; c < C; c++) n += picks(c);
    parts.push(keyEntry(view, colour, `${names.length > 1 ? `${names.length} other concepts` : names[0]} ${n}`, picks));
  }
  return parts;
}

/**
 * The key to the tile badges, with how many tiles carry each; hovering an entry dims the
 * tiles it does not name. A unit is a detector when its best concept's IoU is above the
 * threshold the dissection used (Network Dissection, Bau et al. 2017, section 3.1: 0.04);
 * each concept has its colour, and "distinct concepts" counts those with a detector.
 */
function drawBadgeKey(view, u, counts) {
  const { marks, ui } = view;
  const key = JSON.stringify([u && u.layer, counts]);
  if (marks.dataset.badges === key) return; // hover redraws: nothing changed
  marks.dataset.badges = key;
  ui.badgeKey.hidden = !u;
  if (!u) return;
  const parts = [];
  if (counts.dead) parts.push(keyEntry(view, BADGES.dead, `dead (never active): ${counts.dead}`, (c) => badgeOf(u, c) === "dead"));
  if (counts.constant) parts.push(keyEntry(view, BADGES.constant, `constant: ${counts.constant}`, (c) => badgeOf(u, c) === "constant"));
  if (u.concept) parts.push(...conceptEntries(view, u, counts));
  ui.badgeKey.replaceChildren(...parts);
}
