// Image bytes into a canvas at one canvas pixel per image pixel: the exact bytes, so browser
// tests can compare them with Python's.

/** Pixels (H x W x ch bytes, ch 1 or 3) into a canvas whose size is already W x H. */
export function putPixels(canvas, bytes, W, H, ch) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  const d = img.data;
  for (let i = 0, p = 0, o = 0; i < W * H; i++, p += ch, o += 4) {
    d[o] = bytes[p];
    d[o + 1] = bytes[p + (ch >= 3 ? 1 : 0)];
    d[o + 2] = bytes[p + (ch >= 3 ? 2 : 0)];
    d[o + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

/** Indices into a colour table (H x W bytes) into a canvas whose size is already W x H. */
export function putIndices(canvas, idx, W, H, lut) {
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  const px = new Uint32Array(img.data.buffer);
  for (let i = 0; i < W * H; i++) px[i] = lut.rgba32[idx[i]];
  ctx.putImageData(img, 0, 0);
}
