// Overlays painted into a panel (lib/panels.js makePanel) at the data's resolution, then scaled up.

/** Overlay signed values (red > 0, blue < 0, through the diverging `lut`) with alpha by magnitude. */
export function tintSigned(P, values, max, opacity, lut) {
  const px = P.img.data;
  const m = max > 0 ? max : 1;
  for (let i = 0; i < values.length; i++) {
    let t = values[i] / m;
    t = t < -1 ? -1 : t > 1 ? 1 : t;
    const k = Math.floor((0.5 + 0.5 * t) * 255 + 0.5);
    px[4 * i] = lut.rgb[3 * k];
    px[4 * i + 1] = lut.rgb[3 * k + 1];
    px[4 * i + 2] = lut.rgb[3 * k + 2];
    px[4 * i + 3] = Math.round(255 * opacity * Math.abs(t));
  }
  blit(P);
}

/** The mask in green, alpha m × opacity. */
export function tintMask(P, mask, opacity) {
  const px = P.img.data;
  for (let i = 0; i < mask.length; i++) {
    px[4 * i] = 0;
    px[4 * i + 1] = 255;
    px[4 * i + 2] = 0;
    px[4 * i + 3] = Math.round(255 * opacity * mask[i]);
  }
  blit(P);
}

function blit(P) {
  P.sctx.putImageData(P.img, 0, 0);
  P.ctx.imageSmoothingEnabled = false;
  P.ctx.drawImage(P.small, 0, 0, P.w, P.h, 0, 0, P.canvas.width, P.canvas.height);
}
