// Decoding `_bias` (xai_widgets/widgets/class_bias_payload.py) and the texts both panels show.
import { decode } from "../lib/tensor.js";
import { makeLut } from "../lib/colormap.js";

export const GAP = 16;

/** {names, counts, k, partition, partitions, over, ..., and with predictions distance, groupings}. */
export function decodeBias(d) {
  if (!d || !Array.isArray(d.names)) throw new Error("no class data");
  const k = d.names.length;
  const out = { ...d, k, counts: decode(d.counts).data, confused: d.confusion != null };
  if (!out.confused) return out;
  out.classAccuracy = decode(d.classAccuracy).data;
  out.confusionM = decode(d.confusion).data;
  out.distanceM = decode(d.distance).data;
  const rows = decode(d.groupings).data;
  out.groupsAt = {};
  d.groupCounts.forEach((g, i) => { out.groupsAt[g] = Array.from(rows.subarray(i * k, (i + 1) * k)); });
  out.lutObj = makeLut(d.lut);
  return out;
}

export const pct = (v) => (v == null ? "n/a" : Number.isNaN(v) ? "undefined" : `${(100 * v).toFixed(1)}%`);

/** A partition's key text, as xai_widgets.widgets.class_bias_picture.partition_line writes it. */
export const partitionLine = (name, share, accuracy) =>
  `${name}: ${pct(share)} of samples${accuracy == null ? "" : `, accuracy ${pct(accuracy)}`}`;

/** The classes ordered by group (by index within a group), as class_bias_picture.class_order. */
export function classOrder(groupOf, k) {
  const idx = Array.from({ length: k }, (_, i) => i);
  return groupOf ? idx.sort((a, b) => groupOf[a] - groupOf[b] || a - b) : idx;
}

/** The bar colour of each class: its partition's, grey for none. */
export const barColour = (D, c) => (D.partition[c] >= 0 ? D.partitions[D.partition[c]].color : D.noPartition);
