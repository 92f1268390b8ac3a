// The explanation card, "About this view": a collapsed <details> at the top of every widget saying
// what the view explains (the question, the explanandum), how (the explainer and its settings)
// and how to read it (the interpretation), after Palacio et al., "XAI Handbook" (ICCV Workshops
// 2021). Fed by the `_card` trait: the rows Python makes (xai_widgets/core/card.py card_rows),
// [[key, heading, [[label, text], ...]], ...], kept up to date as the state changes. Every string
// goes in through textContent. An empty card (an export made with card=False) hides the block.
//
// For tests: details.xw-card > section.xw-card-section[data-key] > .xw-card-heading, and per row
// .xw-card-row > dt (the label, absent when empty) + dd (the text).
import { elem } from "./dom.js";

function cardSection([key, heading, rows]) {
  const box = elem("section", "xw-card-section");
  box.dataset.key = String(key);
  box.appendChild(elem("div", "xw-card-heading", String(heading)));
  const list = elem("dl", "xw-card-rows");
  for (const [label, text] of Array.isArray(rows) ? rows : []) {
    const row = elem("div", "xw-card-row");
    if (label) row.appendChild(elem("dt", null, String(label)));
    row.appendChild(elem("dd", null, String(text)));
    list.appendChild(row);
  }
  box.appendChild(list);
  return box;
}

/** The card's <details> element, filled from `_card` now and on every change (via `onModel`). */
export function explanationCard(model, onModel) {
  const el = elem("details", "xw-card");
  el.appendChild(elem("summary", null, "About this view"));
  const body = elem("div", "xw-card-body");
  el.appendChild(body);
  const sync = () => {
    const sections = model.get("_card");
    const list = Array.isArray(sections) ? sections : [];
    body.replaceChildren(...list.map(cardSection));
    el.hidden = list.length === 0;
  };
  onModel("change:_card", sync);
  sync();
  return el;
}
