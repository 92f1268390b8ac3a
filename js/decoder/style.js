// Sizes shared by the layout and the stylesheet (root CSS vars).
export const GAP = 8;
export const MIN_PANEL = 64;
export const PANELS = 4; // image, blend, reconstruction, std map
