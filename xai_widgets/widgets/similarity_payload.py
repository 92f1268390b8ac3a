"""What a :class:`~xai_widgets.widgets.similarity.SimilarityOverlay` ships to the browser.

:func:`overlay_state` runs the models once per distinct input size
(:func:`capture_rows`), turns every row's activations into float16 vectors whose plain dot
products are the chosen similarity (:func:`xai_widgets.similarity.half_vectors`), projects
them onto principal directions when they do not fit the payload budget
(:func:`xai_widgets.similarity.projection.reduce_to_budget`), and wire-encodes them with the
display pixels. :func:`overlay_inputs` checks the inputs before any of that runs, and
:func:`factors_payload` encodes NMF groups for the factor view.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from ..core import colormaps, wire
from ..core.capture import capture_maps
from ..core.images import as_image_list, check_input_size, display_pixels, model_input
from ..core.layouts import prefix_names
from ..similarity.codes import code_levels, to_codes
from ..similarity.factorize import Factors
from ..similarity.maps import half_vectors
from ..similarity.projection import QueryCorrelations, Reduction, reduce_to_budget

__all__ = ["overlay_inputs", "overlay_state", "capture_rows", "reduction_message", "factor_strengths", "factors_payload"]

Row = tuple[str, str, str]  # (row name, model key, layer name)


def overlay_inputs(models: Mapping[str, nn.Module], images: Sequence, layers, titles: Sequence | None
                   ) -> tuple[list, list | dict, list[Row], list]:
    """The widget's inputs checked and normalised, before any model runs.

    Parameters
    ----------
    models : mapping of model key -> nn.Module
        The models shown ("" for a single model).
    images : sequence
        The images (see :mod:`xai_widgets.core.images`), at least one.
    layers : str, sequence of str, or dict of model key -> layers
        As the widget's ``layers=``.
    titles : sequence or None
        One title per image; None: ``image 0``, ``image 1``, ...

    Returns
    -------
    images : list
        The images as a list.
    layers : list or dict
        ``layers`` as the widget keeps it: a list, or the dict given.
    rows : list of (row name, model key, layer name)
        One per row shown; row names are ``"model/layer"`` with several models.
    titles : list
        One title per image.

    Raises
    ------
    ValueError
        For no images, no layers, unknown model keys, non-string layer names, a layer
        listed twice, or a number of titles other than of images.
    """
    images = as_image_list(images)
    if not images:
        raise ValueError("no images: pass at least one image")
    layers = [layers] if isinstance(layers, str) else layers if isinstance(layers, dict) else list(layers)
    if isinstance(layers, dict):
        unknown = set(layers) - set(models)
        if unknown:
            raise ValueError(f"layers given for unknown models {sorted(unknown)}; models: {sorted(models)}")
        per_model = {key: layers.get(key, []) for key in models}
    else:
        per_model = {key: layers for key in models}
    rows = []
    for key, names in per_model.items():
        names = [names] if isinstance(names, str) else list(names)
        if not all(isinstance(n, str) for n in names):
            raise ValueError(f"layers must be layer names, got {names!r}")
        rows += [(f"{key}/{name}" if key else name, key, name) for name in names]
    if not rows:
        raise ValueError(f"no layers: pass a layer name, a list of names or a dict per model, got {layers!r}")
    names = [row for row, _, _ in rows]
    if len(set(names)) != len(names):
        raise ValueError(f"a layer is listed twice: {names}")
    titles = list(titles) if titles is not None else [f"image {i}" for i in range(len(images))]
    if len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    return images, layers, rows, titles


def capture_rows(models: Mapping[str, nn.Module], images: list, rows: Sequence[Row],
                 preprocess: Callable | None, layouts: dict | None) -> tuple[dict, dict, list, dict]:
    """Every row's activations, one forward per model and distinct input size.

    Parameters
    ----------
    models : mapping of model key -> nn.Module
        The models, keyed as in ``rows``.
    images : list
        The images (see :mod:`xai_widgets.core.images`).
    rows : sequence of (row name, model key, layer name)
        The rows to capture.
    preprocess : callable or None
        PIL image -> C x H x W tensor (None: the default of :func:`~xai_widgets.core.images.model_input`).
    layouts : dict or None
        ``layouts=`` as the widget takes it: one dict for every model, or a dict per model key.

    Returns
    -------
    maps : dict
        ``{row: [C x h x w per image]}`` in float32 on the model's device.
    prefix : dict
        ``{row: [P x C or None per image]}``: a token layer's prefix tokens.
    inputs : list of torch.Tensor
        The model inputs of the first model with rows (they set the display geometry).
    names : dict
        ``{row: [prefix token names]}`` (see :func:`xai_widgets.core.layouts.prefix_names`).
    """
    acts_by_row: dict[str, list] = {row: [None] * len(images) for row, _, _ in rows}
    prefix_by_row: dict[str, list] = {row: [None] * len(images) for row, _, _ in rows}
    names: dict[str, list[str]] = {}
    display_inputs = None
    for key, model in models.items():
        wanted = {layer: row for row, k, layer in rows if k == key}
        if not wanted:
            continue
        inputs = [model_input(img, model, preprocess, i) for i, img in enumerate(images)]
        for x in inputs:
            check_input_size(x, "SimilarityOverlay")
        display_inputs = display_inputs or inputs
        groups: dict[tuple, list[int]] = defaultdict(list)  # one forward per input size
        for i, x in enumerate(inputs):
            groups[tuple(x.shape)].append(i)
        for idx in groups.values():
            acts = capture_maps(model, torch.cat([inputs[i] for i in idx]), list(wanted),
                                layouts=_layouts_for(layouts, key))
            for layer, row in wanted.items():
                names[row] = prefix_names(model, acts[layer].layout)
                maps, prefix = acts[layer].maps.float(), acts[layer].prefix
                for k, i in enumerate(idx):
                    acts_by_row[row][i] = maps[k]
                    prefix_by_row[row][i] = None if prefix is None else prefix[k].float()
    return acts_by_row, prefix_by_row, display_inputs, names


def _layouts_for(layouts: dict | None, key: str) -> dict | None:
    """The ``layouts=`` entries for one model: a per-model dict, or one dict for all."""
    if layouts and key in layouts and isinstance(layouts[key], dict):
        return layouts[key]
    return layouts


HOVER_PRECISIONS = ("auto", "float16", "int8")
CODES_FROM = 8 * wire.MiB  # "auto" ships 8-bit codes from this many bytes of float16 vectors


def hover_codes(precision: str, vector_bytes: int) -> bool:
    """Whether the view ships (and the browser hovers on) 8-bit codes of the vectors rather than
    the float16 halves, given ``vector_bytes`` of halves.

    Reading every vector on each pointer move is what a hover costs; at ``CODES_FROM`` bytes of
    halves (about a millisecond on one core) ``"auto"`` switches to codes: half the bytes, and
    integer multiply-adds that take a third of the instructions.
    """
    return precision == "int8" or (precision == "auto" and vector_bytes >= CODES_FROM)


def overlay_state(models: Mapping[str, nn.Module], images: list, rows: Sequence[Row], titles: list, *,
                  preprocess: Callable | None, layouts: dict | None, size: int, similarity: str,
                  max_bytes: int, reduce: bool, min_fidelity: float, hover_precision: str = "auto") -> dict:
    """Everything the widget holds for one set of inputs, its browser payload included.

    Parameters
    ----------
    models, images, rows, preprocess, layouts
        As for :func:`capture_rows`.
    titles : list
        One title per image.
    size : int
        Long side of the display pixels shipped per image.
    similarity : "cosine" | "dot" | "centred"
        The similarity the vectors' dot products give.
    max_bytes : int
        Payload budget for vectors, prefix tokens and display pixels.
    reduce : bool
        Project rows onto principal directions when over ``max_bytes`` (else refuse).
    min_fidelity : float
        The map correlation at least 95% of query cells keep when reduced.
    hover_precision : "auto" | "float16" | "int8"
        What the browser's hover multiplies (:func:`hover_codes`).

    Returns
    -------
    dict
        ``data`` (the ``_data`` trait), ``payloads`` and ``prefix_payloads`` (``{row: [wire
        payload per image]}``; the latter only for token rows), ``scales`` (None, or for 8-bit
        codes ``{"payloads": {row: [h x w float32 payload per image]}, "prefix_payloads": ...}``),
        ``reduction`` (``{row: report}`` for the rows projected), ``input_hw``, ``titles``, ``negative`` (whether any shaded
        value can be below 0), ``prefix_names`` (``{row: names}``) and ``bytes`` (shipped).

    Raises
    ------
    ValueError
        When the display pixels alone, or everything with ``reduce=False``, or the reduced
        rows do not fit ``max_bytes``, saying what to change.
    """
    pixel_bytes = len(images) * 3 * size * size  # checked from shapes, before any forward
    wire.check_budget(pixel_bytes, max_bytes,
                      f"the display pixels alone ({len(images)} images at size={size}: {wire.fmt_bytes(pixel_bytes)})",
                      "They leave nothing for the activations. Show fewer images, pass a smaller size, "
                      "or raise max_bytes.")
    raw, prefix, inputs, names = capture_rows(models, images, rows, preprocess, layouts)
    unit = {row: _vectors(maps, prefix[row], similarity) for row, maps in raw.items()}
    # signs of the unit vectors are the activations' (before any projection mixes them)
    negative = similarity == "centred" or any(_has_negative(run) for maps, _ in unit.values() for _, run in _runs(maps))
    reduction: dict = {}
    if _nbytes(unit) + pixel_bytes > max_bytes:
        if not reduce:
            _check_budget(unit, pixel_bytes, max_bytes)
        unit, reduction = _reduce(raw, prefix, max_bytes - pixel_bytes, similarity, min_fidelity)
    pixels = [display_pixels(img, x.shape[-2:], size, i) for i, (img, x) in enumerate(zip(images, inputs))]
    codes = hover_codes(hover_precision, _nbytes(unit))
    encoded = {row: _encode_row(maps, tokens, codes) for row, (maps, tokens) in unit.items()}
    payloads = {row: e["acts"] for row, e in encoded.items()}
    prefix_payloads = {row: e["prefix"] for row, e in encoded.items() if "prefix" in e}
    layers = []
    for row, e in encoded.items():
        layer = {"name": row, **e}
        if row in reduction:
            layer["reduction"] = reduction[row]
        if "prefix" in e:
            layer["prefix_names"] = names[row]
        layers.append(layer)
    data = {
        "images": [{"title": str(t), "pixels": wire.encode(p, "uint8")} for t, p in zip(titles, pixels)],
        "layers": layers,
        "similarity": similarity,
        "hover_codes": codes,
    }
    shipped = sum(wire.payload_bytes(p) for e in encoded.values() for ps in e.values() for p in ps)
    shipped += sum(wire.payload_bytes(im["pixels"]) for im in data["images"])
    scales = None
    if codes:
        scales = {"payloads": {row: e["scales"] for row, e in encoded.items()},
                  "prefix_payloads": {row: e["prefix_scales"] for row, e in encoded.items() if "prefix" in e}}
    return {"data": data, "payloads": payloads, "prefix_payloads": prefix_payloads, "scales": scales,
            "reduction": reduction, "input_hw": [tuple(x.shape[-2:]) for x in inputs], "titles": titles,
            "negative": negative, "prefix_names": names, "bytes": shipped}


def _encode_row(maps: list[torch.Tensor], tokens: list, codes: bool) -> dict:
    """One row's wire payloads: ``acts`` (h x w x C per image) and, for a token row, ``prefix`` (P x C
    per image), as float16 halves, or as 8-bit codes (:mod:`xai_widgets.similarity.codes`) with
    ``scales`` (h x w float32 per image) and ``prefix_scales``; uint8 codes when the row has no
    negative value, else int8."""
    has_tokens = tokens[0] is not None
    if not codes:
        row = {"acts": [wire.encode(m, "float16") for m in maps]}
        return {**row, "prefix": [wire.encode(p, "float16") for p in tokens]} if has_tokens else row
    negative = (any(_has_negative(run) for _, run in _runs(maps))
                or any(_has_negative(p) for p in tokens if p is not None))
    levels = code_levels(negative)
    dtype = "int8" if negative else "uint8"
    acts: list = [None] * len(maps)
    scales: list = [None] * len(maps)
    for idx, run in _runs(maps):  # one op per forward batch, as the halves were made
        c, s = to_codes(run, levels)
        for j, i in enumerate(idx):
            acts[i], scales[i] = wire.encode(c[j], dtype), wire.encode(s[j], "float32")
    row = {"acts": acts, "scales": scales}
    if has_tokens:
        coded = [to_codes(p, levels) for p in tokens]
        row.update(prefix=[wire.encode(c, dtype) for c, _ in coded],
                   prefix_scales=[wire.encode(s, "float32") for _, s in coded])
    return row


def reduction_message(reduction: dict) -> str:
    """The widget's message for the rows projected to fit (empty when none was).

    Parameters
    ----------
    reduction : dict
        ``{row name: report}``, each report with ``channels``, ``d``, ``fidelity``,
        ``mean`` and ``min`` (as ``overlay_state`` gives it).

    Returns
    -------
    str
        One clause per reduced row, joined by ``"; "``; empty for an empty ``reduction``.
    """
    return "; ".join(
        f"{row}: {r['channels']} channels projected to {r['d']} to fit max_bytes (95% of query cells keep "
        f"map correlation >= {r['fidelity']:.3f}; mean {r['mean']:.3f}, worst {r['min']:.3f})"
        for row, r in reduction.items())


def factor_strengths(factors: Factors) -> torch.Tensor:
    """N x k x h x w strengths in [0, 1]: each group's map divided by its maximum over all images.

    Parameters
    ----------
    factors : Factors
        An NMF of one layer (``maps`` N x k x h x w, non-negative).

    Returns
    -------
    torch.Tensor
        ``factors.maps`` divided per group by its maximum (at least 1e-12, so an all-zero
        group stays 0).
    """
    peak = factors.maps.amax(dim=(0, 2, 3), keepdim=True)
    return factors.maps / peak.clamp_min(1e-12)


def factors_payload(layer: str, factors: Factors) -> dict:
    """The ``_factors`` trait for NMF groups of row ``layer``: a colour and label per group and
    each image's strengths (:func:`factor_strengths`) as h x w x k uint8.

    Parameters
    ----------
    layer : str
        The row name.
    factors : Factors
        The NMF of that row.

    Returns
    -------
    dict
        ``{"layer", "k", "colors", "labels", "maps"}``: colours from
        ``colormaps.QUALITATIVE`` (repeating past 7), labels ``"group j"``, and one
        wire-encoded h x w x k uint8 map per image ([0, 1] mapped to 0..255).
    """
    k = int(factors.maps.shape[1])
    colors = [colormaps.QUALITATIVE[f % len(colormaps.QUALITATIVE)] for f in range(k)]
    return {
        "layer": layer,
        "k": k,
        "colors": [list(c) for c in colors],
        "labels": [f"group {f}" for f in range(k)],
        "maps": [wire.encode(m.permute(1, 2, 0), "uint8", lo=0.0, hi=1.0) for m in factor_strengths(factors)],
    }


# ------------------------------------------------------------------ vectors


def _vectors(maps: list[torch.Tensor], prefix: list, similarity: str) -> tuple[list[torch.Tensor], list]:
    """h x w x C float16 vectors (and P x C prefix tokens) per image whose plain dot
    products are the chosen similarity (one cell = one contiguous vector for the browser),
    written in one pass from the C x h x w maps (:func:`xai_widgets.similarity.half_vectors`).
    "centred" subtracts one mean over every cell and token of every image."""
    mean = None
    if similarity == "centred":
        total = sum(m.sum(dim=(1, 2), dtype=torch.float64) for m in maps)
        total = total + sum(p.sum(0, dtype=torch.float64) for p in prefix if p is not None)
        mean = total / sum(m[0].numel() + (0 if p is None else len(p)) for m, p in zip(maps, prefix))
    cells: list = [None] * len(maps)
    for idx, batch in _runs(maps):  # N x C x h x w -> N x h x w x C halves, split per image without a copy
        for i, halves in zip(idx, half_vectors(batch.permute(0, 2, 3, 1), similarity, mean)):
            cells[i] = halves
    tokens = [None if p is None else half_vectors(p, similarity, mean) for p in prefix]
    return cells, tokens


def _runs(maps: list[torch.Tensor]) -> list[tuple[list[int], torch.Tensor]]:
    """The maps as runs of consecutive, equally shaped slices of one tensor (as one forward's batch
    gives them), each run one N x C x h x w view of that tensor; other maps are runs of one.

    Each elementwise op on a CPU tensor of this size is split over torch's threads and waits for
    the slowest; while the notebook server and the browser are busy (e.g. taking the previous
    widget's payload), one op per image instead of one per run made building the payload 5-10x slower.
    """
    runs: list[tuple[list[int], torch.Tensor]] = []
    for i, m in enumerate(maps):
        if runs:
            idx, first = runs[-1][0], maps[runs[-1][0][0]]
            if (m.shape == first.shape and m.stride() == first.stride() and m.device == first.device
                    and m.untyped_storage().data_ptr() == first.untyped_storage().data_ptr()
                    and m.storage_offset() == first.storage_offset() + len(idx) * m.numel()
                    and m.is_contiguous()):
                idx.append(i)
                runs[-1] = (idx, first.as_strided((len(idx), *first.shape), (m.numel(), *first.stride())))
                continue
        runs.append(([i], m.unsqueeze(0)))
    return runs


def _nbytes(vectors: dict) -> int:
    """float16 bytes of {row: ([h x w x C per image], [P x C or None per image])}."""
    return sum(t.numel() * 2 for pair in vectors.values() for part in pair for t in part if t is not None)


def _no_subnormals(halves: torch.Tensor) -> torch.Tensor:
    """A contiguous copy with float16 subnormals set to 0, as :func:`half_vectors` makes them (the
    browser's hover kernel multiplies subnormals slowly on x86)."""
    return wire.flush_subnormals_(halves.contiguous().clone())


def _has_negative(halves: torch.Tensor) -> bool:
    """Whether a float16 tensor holds a value below 0 (-0 is not; nor is a NaN, whatever its sign bit).

    One min reduction: a twentieth of the time a compare of every entry takes."""
    low = halves.min()
    if torch.isnan(low):  # a NaN hides the others from the min
        rest = halves[~torch.isnan(halves)]
        low = rest.min() if rest.numel() else low
    return bool(low < 0)


def _check_budget(unit: dict, pixel_bytes: int, max_bytes: int) -> None:
    """Refuse, naming the largest row, when the unreduced vectors and pixels exceed ``max_bytes``."""
    act_bytes = {name: _nbytes({name: pair}) for name, pair in unit.items()}
    biggest = max(act_bytes, key=act_bytes.get)
    h, w, c = unit[biggest][0][0].shape
    wire.check_budget(
        sum(act_bytes.values()) + pixel_bytes, max_bytes, "this view",
        f"The largest layer is {biggest!r} ({h}x{w}x{c} per image, {wire.fmt_bytes(act_bytes[biggest])} in "
        "all). Show fewer images or layers, choose deeper (smaller) layers, use smaller inputs, pass "
        "reduce=True to project channels, or raise max_bytes if the browser can take it.")


# ------------------------------------------------------------------ reduction


def _reduce(raw: dict, prefix: dict, budget: int, similarity: str, min_fidelity: float) -> tuple[dict, dict]:
    """Project every row onto its top principal directions, as few as keep at least 95% of
    query cells at map correlation >= ``min_fidelity`` (see
    :func:`xai_widgets.similarity.projection.reduce_to_budget`)."""
    reductions = reduce_to_budget({row: _all_cells(maps, prefix[row]) for row, maps in raw.items()}, budget,
                                  similarity=similarity, min_fidelity=min_fidelity)
    vectors = {}
    for row, r in reductions.items():  # float16 like the unreduced rows, one contiguous vector per cell
        maps, tokens = _split_cells(r.payload, raw[row], prefix[row])
        vectors[row] = ([_no_subnormals(m) for m in maps], [None if t is None else _no_subnormals(t) for t in tokens])
    report = {row: _reduction_report(r, raw[row], prefix[row]) for row, r in reductions.items()}
    return vectors, report


def _all_cells(maps: list[torch.Tensor], prefix: list[torch.Tensor | None] | None = None) -> torch.Tensor:
    """Per-image C x h x w maps (and each image's P x C prefix tokens after its cells) as
    one 1 x C x 1 x (all cells) pseudo-image."""
    prefix = prefix or [None] * len(maps)
    return torch.cat([torch.cat([m.flatten(1)] + ([] if p is None else [p.T]), dim=1)
                      for m, p in zip(maps, prefix)], dim=1)[None, :, None, :]


def _split_cells(cells: torch.Tensor, like: list[torch.Tensor], prefix: list | None = None
                 ) -> tuple[list[torch.Tensor], list[torch.Tensor | None]]:
    """Undo :func:`_all_cells` (the channel count may have changed): h x w x C' maps and
    P x C' prefix tokens (or None) per image."""
    prefix = prefix or [None] * len(like)
    counts = [0 if p is None else len(p) for p in prefix]
    parts = cells[0, :, 0].split([m.shape[1] * m.shape[2] + k for m, k in zip(like, counts)], dim=1)
    maps = [part[:, :part.shape[1] - k].reshape(-1, *m.shape[1:]).permute(1, 2, 0)
            for part, m, k in zip(parts, like, counts)]
    return maps, [part[:, part.shape[1] - k:].T if k else None for part, k in zip(parts, counts)]


def _cell_at(index: int, like: list[torch.Tensor], prefix: list) -> dict:
    """Where cell ``index`` of :func:`_all_cells` lies: ``{"image", "row", "col"}`` for a patch,
    ``{"image", "token"}`` for a prefix token."""
    for image, (m, p) in enumerate(zip(like, prefix or [None] * len(like))):
        h, w = m.shape[1:]
        if index < h * w:
            return {"image": image, "row": index // w, "col": index % w}
        index -= h * w
        tokens = 0 if p is None else len(p)
        if index < tokens:
            return {"image": image, "token": index}
        index -= tokens
    raise IndexError("cell index beyond the last image")


def _reduction_report(r: Reduction, like: list[torch.Tensor], prefix: list) -> dict:
    """What ``w.reduction`` says about one row (see its docstring); JSON-ready."""
    c = r.correlations
    worst = [{**_cell_at(col, like, prefix), "correlation": round(v, 4)} for _, _, col, v in c.worst]
    return {"d": r.d, "channels": r.channels, "fidelity": round(c.fidelity, 4), "mean": round(c.mean, 4),
            "min": round(c.min, 4), "criterion": QueryCorrelations.CRITERION, "queries": c.n_queries, "worst": worst}
