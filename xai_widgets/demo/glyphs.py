"""Two offline, MNIST-like demo sets for the path-mask method: digits and letters A-J.

Both are 1 x 28 x 28 float images in [0, 1], a white glyph on black, ten classes, like the
MNIST and notMNIST of the path-mask thesis (:mod:`xai_widgets.morph`), which cannot be downloaded here.

* **Digits** (:func:`digits_data`): the 1,797 real handwritten digits that scikit-learn
  bundles (``sklearn.datasets.load_digits``: UCI "Optical Recognition of Handwritten
  Digits", 8 x 8 blocks of 0-16 ink counts). Each is scaled to [0, 1], upsampled bicubically
  to the 20 x 20 box of MNIST and placed in 28 x 28 with its centre of mass at the centre,
  as MNIST was made (LeCun et al. 1998). The split is fixed: a permutation seeded with
  ``DIGITS_SPLIT_SEED`` puts its first 300 images in "test" (held out) and the other 1,497
  in "train".
* **Letters** (:func:`render_letters`): A-J drawn with PIL from the TrueType fonts found on
  the machine and Pillow's own default font, in the way notMNIST was made (letters from many
  fonts, Bulatov 2011): random font, plain / bold / outlined stroke, aspect ratio and size,
  then a random distortion. Fonts differ between machines, so the rendered set is shipped in
  ``weights/letters_data.npz`` (uint8) and :func:`letters_data` reads it without any font.

:func:`distort` is the random small affine (rotation, scale, shear, translation) plus
optional elastic distortion (Simard, Steinkraus and Platt, ICDAR 2003) used both to render
letters and to augment training batches; it runs batched on the images' device.
"""
from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from ..core.images import to_uint8

__all__ = [
    "DIGITS_SPLIT_SEED",
    "LETTERS",
    "LETTERS_FILE",
    "digits_data",
    "distort",
    "find_fonts",
    "letters_data",
    "render_letters",
    "write_letters",
]

SIZE = 28
BOX = 20  # MNIST's glyph box
DIGITS_SPLIT_SEED = 0
DIGITS_HELD_OUT = 300
LETTERS = "ABCDEFGHIJ"
LETTERS_FILE = Path(__file__).with_name("weights") / "letters_data.npz"
SPLITS = ("train", "test", "all")
PILLOW_DEFAULT = "Pillow default"  # the font name recorded for ImageFont.load_default
# The shipped letters keep 16 grey levels (multiples of 17): the file compresses to about
# half the size of 256 levels, under 1 MB for 4,500 images.
LETTER_LEVELS = 16


def distort(
    images: torch.Tensor,
    generator: torch.Generator | None = None,
    *,
    rotation: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    shear: float = 0.15,
    translate: float = 1.5,
    elastic: float = 0.0,
    elastic_sigma: float = 3.0,
) -> torch.Tensor:
    """Randomly distorted copies of ``images`` (N x C x H x W; values in [0, 1] stay in it).

    Per image, uniformly drawn: a rotation in +-``rotation`` degrees, a zoom factor in
    ``scale``, a horizontal shear in +-``shear`` (tan of the slant), a shift in
    +-``translate`` pixels per axis. With ``elastic > 0`` a smooth random displacement field
    is added (Simard et al. 2003: uniform noise blurred by a Gaussian of ``elastic_sigma``
    pixels), scaled here to an RMS displacement of ``elastic`` pixels. Bilinear resampling;
    the border is black (zero). ``generator`` must live on the images' device.

    Parameters
    ----------
    images : torch.Tensor
        N x C x H x W float images.
    generator : torch.Generator or None, default None
        Source of the random draws, on the images' device; None: the global generator.
    rotation : float, default 10.0
        Largest rotation in degrees.
    scale : tuple of (float, float), default (0.9, 1.1)
        Range of the zoom factor.
    shear : float, default 0.15
        Largest horizontal shear.
    translate : float, default 1.5
        Largest shift in pixels per axis.
    elastic : float, default 0.0
        RMS elastic displacement in pixels; 0 turns it off.
    elastic_sigma : float, default 3.0
        Standard deviation in pixels of the Gaussian smoothing the displacement noise.

    Returns
    -------
    torch.Tensor
        N x C x H x W distorted images, same dtype and device.

    Raises
    ------
    ValueError
        If ``images`` is not a 4-D float tensor.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError("images must be a float tensor N x C x H x W")
    n, _, h, w = images.shape

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        u = torch.rand(shape or (n,), generator=generator, device=images.device, dtype=images.dtype)
        return low + (high - low) * u

    angle = uniform(-rotation, rotation).deg2rad()
    zoom = uniform(*scale)
    slant = uniform(-shear, shear)
    cos, sin = angle.cos() / zoom, angle.sin() / zoom
    # affine_grid maps output to input coordinates (normalised to [-1, 1]); the ranges are
    # symmetric, so drawing this inverse map directly is as good as inverting a forward one.
    theta = torch.stack(
        [
            torch.stack([cos, cos * slant - sin, uniform(-translate, translate) * 2 / w], 1),
            torch.stack([sin, sin * slant + cos, uniform(-translate, translate) * 2 / h], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if elastic > 0:
        grid = grid + _elastic_field(n, h, w, elastic, elastic_sigma, uniform)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _elastic_field(n, h, w, rms, sigma, uniform) -> torch.Tensor:
    """Smooth random displacements, N x H x W x 2, in grid_sample's normalised units."""
    noise = uniform(-1.0, 1.0, n, 2, h, w)
    radius = max(1, math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, device=noise.device, dtype=noise.dtype)
    kernel = (-(x**2) / (2 * sigma**2)).exp()
    kernel = kernel / kernel.sum()
    # separable Gaussian, one kernel per displacement component (groups=2)
    rows, cols = kernel.view(1, 1, 1, -1).repeat(2, 1, 1, 1), kernel.view(1, 1, -1, 1).repeat(2, 1, 1, 1)
    smooth = F.conv2d(F.pad(noise, (radius, radius, 0, 0), mode="reflect"), rows, groups=2)
    smooth = F.conv2d(F.pad(smooth, (0, 0, radius, radius), mode="reflect"), cols, groups=2)
    smooth = smooth * (rms / smooth.square().mean(dim=(1, 2, 3), keepdim=True).sqrt())
    to_grid_units = torch.tensor([2 / w, 2 / h], device=noise.device, dtype=noise.dtype)
    return smooth.permute(0, 2, 3, 1) * to_grid_units


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} ('test' is the held-out part), got {split!r}")


def _centre_of_mass_place(glyph: np.ndarray) -> np.ndarray:
    """Put a glyph (h x w floats, h, w <= 28) in 28 x 28 with its centre of mass centred."""
    h, w = glyph.shape
    total = glyph.sum()
    rows, cols = np.arange(h), np.arange(w)
    cy = (glyph.sum(1) @ rows) / total if total > 0 else (h - 1) / 2
    cx = (glyph.sum(0) @ cols) / total if total > 0 else (w - 1) / 2
    centre = (SIZE - 1) / 2
    top = int(np.clip(round(centre - cy), 0, SIZE - h))
    left = int(np.clip(round(centre - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), np.float32)
    out[top : top + h, left : left + w] = glyph
    return out


# ----------------------------------------------------------------------------- digits


def _digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (1797 x 8 x 8 floats 0-16, labels), read from its bundled
    file without importing scikit-learn (which takes over a second), else via load_digits."""
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images, bunch.target
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def digits_data(split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled handwritten digits, MNIST-style.

    Returns (images N x 1 x 28 x 28 float in [0, 1],
    labels N int64). ``split``: "train" (1,497), "test" (300, held out) or "all" (1,797, in
    scikit-learn's order).

    Parameters
    ----------
    split : {"test", "train", "all"}, default "test"
        Which images to return.

    Returns
    -------
    images : torch.Tensor
        N x 1 x 28 x 28 float32 images in [0, 1].
    labels : torch.Tensor
        N int64 labels 0-9.

    Raises
    ------
    ValueError
        If ``split`` is unknown.
    """
    _check_split(split)
    raw, labels = _digits_8x8()
    small = torch.from_numpy(raw / 16.0).float()[:, None]
    boxed = F.interpolate(small, size=(BOX, BOX), mode="bicubic", align_corners=False).clamp(0, 1)
    images = torch.from_numpy(np.stack([_centre_of_mass_place(g) for g in boxed[:, 0].numpy()]))[:, None]
    labels = torch.from_numpy(np.asarray(labels, np.int64))
    if split == "all":
        return images, labels
    order = torch.from_numpy(np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels)))
    index = order[:DIGITS_HELD_OUT] if split == "test" else order[DIGITS_HELD_OUT:]
    return images[index], labels[index]


# ----------------------------------------------------------------------------- letters


def find_fonts(root: str | Path = "/usr/share/fonts") -> list[Path]:
    """TrueType/OpenType files under ``root`` that draw ten distinct glyphs for A-J.

    TrueType/OpenType files under ``root`` that draw ten distinct glyphs for A-J (fonts
    without Latin capitals draw the same "missing glyph" box for all), sorted by path.

    Parameters
    ----------
    root : str or pathlib.Path, default "/usr/share/fonts"
        Folder searched recursively for ``.ttf`` and ``.otf`` files.

    Returns
    -------
    list of pathlib.Path
        The usable font files, sorted.
    """
    candidates = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in (".ttf", ".otf"))
    return [p for p in candidates if _draws_letters(ImageFont.truetype(str(p), 32))]


def _draws_letters(font: ImageFont.FreeTypeFont) -> bool:
    shapes = {_render(letter, font, stroke=0, outline=False).tobytes() for letter in LETTERS}
    return len(shapes) == len(LETTERS) and b"" not in shapes


def _font_name(font: ImageFont.FreeTypeFont, path: Path | None) -> str:
    family, style = font.getname()
    return f"{family} {style} ({path.name if path else PILLOW_DEFAULT})"


def _render(letter: str, font: ImageFont.FreeTypeFont, stroke: int, outline: bool) -> Image.Image:
    """The letter's ink, white on black, cropped to its bounding box (empty if no ink)."""
    canvas = Image.new("L", (4 * font.size, 4 * font.size), 0)
    fill = 0 if outline else 255  # an outline is the stroke with the inside painted black
    ImageDraw.Draw(canvas).text(
        (2 * font.size, 2 * font.size), letter, font=font, fill=fill, anchor="mm", stroke_width=stroke, stroke_fill=255
    )
    box = canvas.getbbox()
    return canvas.crop(box) if box else Image.new("L", (0, 0))


def render_letters(
    n: int, seed: int, fonts: list[Path] | None = None, *, font_size: int = 48
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` notMNIST-style letters rendered from fonts.

    Returns (images N x 28 x 28 uint8, labels N int64 in 0-9 for
    A-J, names of the fonts drawn from). Classes are balanced (``i % 10``, shuffled).

    Per image, uniformly at random: a font among ``fonts`` (default :func:`find_fonts`) plus
    Pillow's default font; a style (plain, bold with a stroke of 2-4 px at ``font_size``, or
    outlined with a 3-4 px stroke); the box's longer side, 17-24 px, and its aspect ratio
    stretched by 0.75-1.3; then :func:`distort` (rotation +-10 degrees, zoom 0.9-1.1, shear
    +-0.25, shift +-1 px, elastic 0.5 px RMS). Deterministic given ``seed`` and the fonts.

    Parameters
    ----------
    n : int
        Number of images.
    seed : int
        Seed of the random choices and the distortion.
    fonts : list of pathlib.Path or None, default None
        Font files to draw from; None: :func:`find_fonts`.
    font_size : int, default 48
        Font size the glyphs are drawn at before resizing.

    Returns
    -------
    images : numpy.ndarray
        N x 28 x 28 uint8 images, white glyph on black.
    labels : numpy.ndarray
        N int64 labels 0-9 for A-J.
    fonts : list of str
        Names of the fonts drawn from.
    """
    paths = find_fonts() if fonts is None else list(fonts)
    faces = [ImageFont.truetype(str(p), font_size) for p in paths] + [ImageFont.load_default(size=font_size)]
    names = [_font_name(face, path) for face, path in zip(faces, paths + [None])]
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(LETTERS)).astype(np.int64)
    glyphs = np.empty((n, SIZE, SIZE), np.float32)
    for i, label in enumerate(labels):
        style = rng.integers(3)  # 0 plain, 1 bold, 2 outline
        stroke = 0 if style == 0 else int(rng.integers(2, 5) if style == 1 else rng.integers(3, 5))
        ink = _render(LETTERS[label], faces[rng.integers(len(faces))], stroke, outline=style == 2)
        glyphs[i] = _centre_of_mass_place(_fit_box(ink, rng))
    generator = torch.Generator().manual_seed(seed)
    distorted = distort(torch.from_numpy(glyphs)[:, None], generator, rotation=10, shear=0.25, translate=1, elastic=0.5)
    images = to_uint8(distorted[:, 0]).numpy()
    return images, labels, names


def _fit_box(ink: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Resize the ink to a random box (longer side 17-24 px, aspect stretched), floats in [0, 1]."""
    stretch = rng.uniform(0.75, 1.3)
    w, h = ink.width * stretch, ink.height
    side = rng.uniform(17, 24)
    factor = side / max(w, h)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(ink.resize(size, Image.Resampling.LANCZOS), np.float32).clip(0, 255) / 255


def write_letters(
    path: str | Path = LETTERS_FILE, *, n_train: int = 4000, n_test: int = 500, seed: int = 1
) -> dict:
    """Render the letters set and save it as a compressed npz.

    Render the letters set and save it (compressed npz, uint8 at ``LETTER_LEVELS`` grey
    levels): "train" from ``seed``, "test" (held out) from ``seed + 1``. Returns its record:
    sizes, seeds, fonts, Pillow and FreeType versions.

    Parameters
    ----------
    path : str or pathlib.Path, default LETTERS_FILE
        The ``.npz`` file written.
    n_train : int, default 4000
        Training images.
    n_test : int, default 500
        Held-out images.
    seed : int, default 1
        Seed of the training images (``seed + 1`` for the test images).

    Returns
    -------
    dict
        The record: sizes, seeds, grey levels, fonts, Pillow and FreeType versions, file size.
    """
    import PIL
    from PIL import features

    train_images, train_labels, fonts = render_letters(n_train, seed)
    test_images, test_labels, _ = render_letters(n_test, seed + 1)
    step = 255 // (LETTER_LEVELS - 1)

    def quantised(images: np.ndarray) -> np.ndarray:
        return (np.round(images / step) * step).astype(np.uint8)

    np.savez_compressed(
        path,
        train_images=quantised(train_images),
        train_labels=train_labels.astype(np.uint8),
        test_images=quantised(test_images),
        test_labels=test_labels.astype(np.uint8),
    )
    return {
        "n_train": n_train,
        "n_test": n_test,
        "train_seed": seed,
        "test_seed": seed + 1,
        "grey_levels": LETTER_LEVELS,
        "fonts": fonts,
        "pillow_version": PIL.__version__,
        "freetype_version": features.version("freetype2"),
        "file_bytes": Path(path).stat().st_size,
    }


def letters_data(split: str = "test", path: str | Path = LETTERS_FILE) -> tuple[torch.Tensor, torch.Tensor]:
    """The shipped letters (no font needed).

    Returns (images N x 1 x 28 x 28 float in [0, 1], labels
    N int64, 0-9 for A-J). ``split``: "train", "test" (held out) or "all" (train then test).

    Parameters
    ----------
    split : {"test", "train", "all"}, default "test"
        Which images to return.
    path : str or pathlib.Path, default LETTERS_FILE
        The ``.npz`` file read (as written by :func:`write_letters`).

    Returns
    -------
    images : torch.Tensor
        N x 1 x 28 x 28 float32 images in [0, 1].
    labels : torch.Tensor
        N int64 labels 0-9 for A-J.

    Raises
    ------
    ValueError
        If ``split`` is unknown.
    """
    _check_split(split)
    with np.load(path) as data:
        parts = ("train", "test") if split == "all" else (split,)
        images = np.concatenate([data[f"{p}_images"] for p in parts])
        labels = np.concatenate([data[f"{p}_labels"] for p in parts])
    return torch.from_numpy(images).float().div(255)[:, None], torch.from_numpy(labels.astype(np.int64))
