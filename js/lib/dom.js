// DOM helpers shared by the widget front ends: elements, listener bookkeeping, hint and status lines.
import { firstPaintMarker } from "./hover.js";
import { explanationCard } from "./card.js";

export function elem(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** Listeners of one render(): listen / onModel / add register, dispose() undoes them all. */
export function lifecycle(model) {
  const disposers = [];
  const add = (dispose) => disposers.push(dispose);
  return {
    add,
    listen(target, type, fn, opts) {
      target.addEventListener(type, fn, opts);
      add(() => target.removeEventListener(type, fn, opts));
    },
    onModel(name, fn) {
      model.on(name, fn);
      add(() => model.off(name, fn));
    },
    dispose() {
      for (const dispose of disposers.splice(0)) dispose();
    },
  };
}

/** Number-valued trait, `dflt` when missing or not finite. */
export function getNum(model, name, dflt) {
  const v = Number(model.get(name));
  return Number.isFinite(v) ? v : dflt;
}

/** div.xw-hint from [tag, text] parts: tag "" is plain text, else an element (e.g. kbd). */
export function hintLine(parts) {
  const hint = elem("div", "xw-hint");
  for (const [tag, text] of parts) hint.append(tag ? elem(tag, null, text) : document.createTextNode(text));
  return hint;
}

/** Readout, error box and `message` box under a widget, with their setters. */
export function statusBoxes(model) {
  const readout = elem("div", "xw-readout");
  readout.setAttribute("aria-live", "polite");
  const errorBox = elem("div", "xw-error");
  errorBox.hidden = true;
  const messageBox = elem("div", "xw-message");
  messageBox.setAttribute("role", "status");
  messageBox.hidden = true;
  const showError = (text) => {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  };
  return {
    readout,
    errorBox,
    messageBox,
    setReadout(text) {
      if (readout.textContent !== text) readout.textContent = text;
    },
    /** `load()`'s result, clearing the error box; on a throw null, with "what: message" shown. */
    attempt(what, load) {
      try {
        const result = load();
        showError("");
        return result;
      } catch (err) {
        showError(`${what}: ${err && err.message ? err.message : err}`);
        return null;
      }
    },
    syncMessage() {
      const m = model.get("message");
      const text = m == null ? "" : String(m);
      messageBox.textContent = text;
      messageBox.hidden = text.length === 0;
    },
  };
}

/**
 * What every render() starts with (a view's base: spread it into the view object): `model`,
 * `el`, its lifecycle (spread: life, listen, onModel), the root div
 * (classes xw-widget and `className`; focusable and labelled when `label` is given; `vars`
 * becomes CSS custom properties on it, numbers in px: the stylesheet and the layout code share
 * those values), the status boxes with the `message` trait kept in sync, and the first-paint
 * marker of `el`. The root starts with the explanation card, "About this view" (lib/card.js).
 * The stylesheet itself is the widget's `_css` (js/<name>.css).
 */
export function widgetShell(model, el, className, { label, vars = {} } = {}) {
  const life = lifecycle(model);
  const root = elem("div", `xw-widget ${className}`);
  for (const [name, value] of Object.entries(vars)) {
    root.style.setProperty(`--xw-${name}`, typeof value === "number" ? `${value}px` : value);
  }
  if (label) {
    root.tabIndex = 0;
    root.setAttribute("aria-label", label);
  }
  root.appendChild(explanationCard(model, life.onModel)); // first: the widget's own parts follow it
  const status = statusBoxes(model);
  life.onModel("change:message", status.syncMessage);
  status.syncMessage();
  return { model, el, life, listen: life.listen, onModel: life.onModel, root, status, markPainted: firstPaintMarker(el) };
}
