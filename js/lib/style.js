// CSS shared by the widgets, scoped to a widget's root class around its own rules.
import { LEGEND_STYLE } from "./legend.js";

/** `rules` (one selector per rule, each starting with ".") with every selector under `s`. */
const scoped = (s, rules) => rules.trim().replace(/^\./gm, `${s} .`);

/** Stylesheet text: the common base rules, then `rules`, then the message/error/hidden rules. */
export function widgetStyle(s, rules) {
  return `
${s} {
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif);
  font-size: var(--jp-ui-font-size1, 13px);
  color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff);
  padding: 8px;
  box-sizing: border-box;
  max-width: 100%;
  line-height: 1.35;
}
${s} * { box-sizing: border-box; }
${s} .xw-header { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }
${s} .xw-header label { display: inline-flex; align-items: center; gap: 6px; cursor: pointer; }
${s} select {
  font: inherit; color: var(--jp-ui-font-color1, #222); background: var(--jp-layout-color1, #fff);
  border: 1px solid var(--jp-border-color1, #bdbdbd); border-radius: 2px; padding: 1px 4px;
}
${s} input[type="range"] { width: 100px; accent-color: var(--jp-brand-color1, #1976d2); }
${scoped(s, LEGEND_STYLE)}
${s} .xw-details { margin-top: 4px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
${s} .xw-details summary { cursor: pointer; width: max-content; }
${s} .xw-hint { margin: 4px 0 6px; font-size: var(--jp-ui-font-size0, 11px); color: var(--jp-ui-font-color2, #616161); }
${s} .xw-hint kbd {
  font-family: var(--jp-code-font-family, monospace); font-size: inherit;
  border: 1px solid var(--jp-border-color2, #e0e0e0); border-radius: 3px; padding: 0 3px;
  background: var(--jp-layout-color2, #eee);
}
${rules.trim()}
${s} .xw-message, ${s} .xw-error {
  margin-top: 6px; padding: 6px 8px; border-radius: 3px; white-space: pre-wrap;
  color: var(--jp-ui-font-color1, #222);
}
${s} .xw-message {
  border: 1px solid var(--jp-warn-color1, #f57c00); background: rgba(245, 124, 0, 0.12);
}
${s} .xw-error {
  border: 1px solid var(--jp-error-color1, #d32f2f); background: rgba(211, 47, 47, 0.12);
}
${s} [hidden] { display: none !important; }
`;
}
