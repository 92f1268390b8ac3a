// Colours and sizes shared by the layout, the drawing and the stylesheet (root CSS vars).
export const SELF = "#0072b2"; // Okabe-Ito blue: the self class
export const OTHER = "#d55e00"; // vermillion: the other class
export const FAINT = "rgba(128,128,128,0.35)";
export const CURSOR = "rgba(128,128,128,0.55)";
export const WINDOW = "rgba(213,94,0,0.15)";
export const BAND_S = "rgba(0,114,178,0.15)";
export const BAND_O = "rgba(213,94,0,0.15)";
export const PLAY_MS = 60; // per frame while playing
export const STRIP = 16; // frames in the clickable strip
export const THUMB = 28; // strip thumbnails, CSS px
export const GAP = 12;
export const MIN_CHART = 280; // narrower charts crowd their tick labels
export const MAX_CHART = 440;
