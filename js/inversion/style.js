// Colours and sizes shared by the layout, the drawing and the stylesheet (root CSS vars).
// One colour per layer (Okabe-Ito, cycled), as the PNG draws the loss curves
// (xai_widgets/widgets/inversion_picture.py LAYER_COLOURS).
export const LAYER_COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
export const CURSOR = "rgba(128,128,128,0.6)";
export const GAP = 8;
export const LABEL = 120; // the row labels' column, CSS px
export const MIN_PANEL = 64;
export const CHART_H = 190;
export const layerColour = (i) => LAYER_COLOURS[i % LAYER_COLOURS.length];
