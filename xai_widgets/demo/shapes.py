"""Procedural "shapes" image set: our own synthetic data, generated offline.

Each image shows 1 to 3 objects of a single class (the label) on a random
textured background, plus one tight bounding box per object, so attribution
maps can be scored against known object locations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle", "star", "cross", "ring")

SUPERSAMPLE = 2  # draw masks at 2x and downsample: cheap antialiasing
MIN_SIZE, MAX_SIZE = 18, 56  # object diameter range in pixels (at size=128)
MIN_CONTRAST = 110  # RGB distance between object and the background it covers
RING_HOLE = 0.55  # inner radius of a ring, relative to its outer radius


@dataclass
class ShapesSet:
    """Images with labels, per-object boxes and (on request) object masks.

    Indexable like a torch dataset: ``data[i]`` is ``(uint8 HWC image, int label)``.
    Boxes are ``(x0, y0, x1, y1)`` pixel coordinates with exclusive ends, so an
    object lies in ``image[y0:y1, x0:x1]``. ``masks`` (``make_shapes(..., masks=True)``)
    marks the pixels at least half covered by one of the image's objects, the same
    rule as the boxes.

    Attributes
    ----------
    images : numpy.ndarray
        N x H x W x 3 uint8 images.
    labels : numpy.ndarray
        N int64 class indices into ``classes``.
    boxes : list of list of tuple of four ints
        Per image, one ``(x0, y0, x1, y1)`` box per object.
    classes : tuple of str, default CLASSES
        The class names.
    masks : numpy.ndarray or None, default None
        N x H x W bool union of each image's objects, or None.
    """

    images: np.ndarray  # uint8, (N, H, W, 3)
    labels: np.ndarray  # int64, (N,)
    boxes: list[list[tuple[int, int, int, int]]]
    classes: tuple[str, ...] = CLASSES
    masks: np.ndarray | None = None  # bool, (N, H, W): union of the image's objects

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.images[i], int(self.labels[i])


def make_shapes(n: int, seed: int = 0, size: int = 128, masks: bool = False) -> ShapesSet:
    """Generate ``n`` images of our own procedural shapes data set.

    Deterministic given ``seed``; image ``i`` does not depend on ``n``, so a
    larger set extends a smaller one with the same seed. ``masks=True`` also keeps
    each image's object mask (it draws no extra random numbers: the images are the same).

    Parameters
    ----------
    n : int
        Number of images.
    seed : int, default 0
        Seed of ``numpy.random.SeedSequence``; one child per image.
    size : int, default 128
        Side of the square images in pixels (object sizes scale with it).
    masks : bool, default False
        Also keep the object masks.

    Returns
    -------
    ShapesSet
        ``n`` images with labels, boxes and (with ``masks=True``) masks.
    """
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    object_masks = np.empty((n, size, size), bool) if masks else None
    boxes = []
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
        images[i], labels[i], image_boxes, mask = _render(np.random.default_rng(child), size)
        boxes.append(image_boxes)
        if masks:
            object_masks[i] = mask
    return ShapesSet(images, labels, boxes, masks=object_masks)


def _render(rng: np.random.Generator, size: int):
    """One image: background, 1-3 objects of one random class, then noise over all."""
    label = int(rng.integers(len(CLASSES)))
    image = _background(rng, size)  # channels first: faster numpy broadcasting
    boxes = []
    mask = np.zeros((size, size), bool)
    scale = size / 128  # object sizes are defined for 128 px images
    for cx, cy, diameter in object_layout(rng, size, MIN_SIZE * scale, MAX_SIZE * scale):
        alpha = object_mask(CLASSES[label], cx, cy, diameter, rng.uniform(0, 2 * np.pi), size)
        colour = _contrasting_colour(rng, image, alpha)
        image += alpha * (colour[:, None, None] - image)
        boxes.append(_tight_box(alpha))
        mask |= alpha >= 0.5  # the rule of _tight_box
    image += rng.uniform(0, 16) * rng.standard_normal(image.shape, np.float32)
    return np.clip(image, 0, 255).astype(np.uint8).transpose(1, 2, 0), label, boxes, mask


def object_layout(rng: np.random.Generator, size: int, min_d: float, max_d: float, gap: float = -2.0):
    """Centres and diameters of 1-3 objects inside the image.

    Parameters
    ----------
    rng : numpy.random.Generator
        The image's generator.
    size : int
        Side of the image in pixels.
    min_d, max_d : float
        Range of the objects' diameters in pixels.
    gap : float, default -2.0
        The least distance between two objects' bounding circles in pixels (negative: they may
        overlap by that much).

    Returns
    -------
    list of tuple of three floats
        ``(cx, cy, diameter)`` per object placed (rejection sampling: at most 30 tries).
    """
    placed: list[tuple[float, float, float]] = []
    wanted = int(rng.integers(1, 4))
    for _ in range(30):  # rejection sampling; keep what fits
        if len(placed) == wanted:
            break
        d = rng.uniform(min_d, max_d)
        r = d / 2
        cx, cy = rng.uniform(r + 2, size - r - 2, size=2)
        if all(np.hypot(cx - x, cy - y) >= r + d2 / 2 + gap for x, y, d2 in placed):
            placed.append((cx, cy, d))
    return placed


def unit_polygon(shape: str) -> np.ndarray:
    """Vertices of a polygon shape, scaled to fit the unit circle.

    Parameters
    ----------
    shape : str
        "square", "triangle", "star" or "cross".

    Returns
    -------
    numpy.ndarray
        K x 2 vertices (x, y), y down, the farthest at distance 1 from the origin.

    Raises
    ------
    ValueError
        If ``shape`` is not a polygon shape (circles and rings are not).
    """
    if shape == "square":
        angles, radii = np.pi / 4 + np.arange(4) * np.pi / 2, np.ones(4)
    elif shape == "triangle":
        angles, radii = -np.pi / 2 + np.arange(3) * 2 * np.pi / 3, np.ones(3)
    elif shape == "star":
        angles, radii = -np.pi / 2 + np.arange(10) * np.pi / 5, np.tile([1.0, 0.45], 5)
    elif shape == "cross":
        w = 0.3  # half-width of an arm
        q = np.array([(w, 1), (w, w), (1, w)])  # one quarter; rotate it 4 times
        pts = np.concatenate([q @ rotation(-k * np.pi / 2).T for k in range(4)])
        return pts / np.linalg.norm(pts, axis=1).max()
    else:
        raise ValueError(f"not a polygon shape: {shape}")
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def rotation(theta: float) -> np.ndarray:
    """The 2 x 2 matrix rotating points by ``theta`` radians (apply as ``points @ rotation(theta).T``).

    Parameters
    ----------
    theta : float
        The angle in radians.

    Returns
    -------
    numpy.ndarray
        2 x 2 float64 rotation matrix.
    """
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def object_mask(shape: str, cx: float, cy: float, diameter: float, angle: float, size: int) -> np.ndarray:
    """Antialiased coverage of one object, drawn at twice the resolution and averaged down.

    Parameters
    ----------
    shape : str
        One of :data:`CLASSES`.
    cx, cy : float
        Centre in pixels (pixel i covers [i, i + 1)).
    diameter : float
        Diameter of the object's bounding circle in pixels.
    angle : float
        Rotation in radians (polygons only).
    size : int
        Side of the square image in pixels.

    Returns
    -------
    numpy.ndarray
        size x size float32 coverage in [0, 1].
    """
    k = SUPERSAMPLE
    mask = Image.new("L", (size * k, size * k), 0)
    draw = ImageDraw.Draw(mask)
    r = diameter / 2 * k
    x, y = cx * k, cy * k
    if shape in ("circle", "ring"):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
        if shape == "ring":
            h = r * RING_HOLE
            draw.ellipse((x - h, y - h, x + h, y + h), fill=0)
    else:
        pts = unit_polygon(shape) @ rotation(angle).T * r + (x, y)
        draw.polygon([tuple(p) for p in pts], fill=255)
    small = mask.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, np.float32) / 255


def _tight_box(alpha: np.ndarray) -> tuple[int, int, int, int]:
    """Box around the pixels that are at least half covered by the object."""
    ys, xs = np.nonzero(alpha >= 0.5)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _contrasting_colour(rng: np.random.Generator, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """A random colour far enough from the mean background under the object."""
    under = image.reshape(3, -1) @ alpha.ravel() / alpha.sum()
    candidates = rng.uniform(0, 255, (8, 3)).astype(np.float32)
    distance = np.linalg.norm(candidates - under, axis=1)
    far = np.flatnonzero(distance >= MIN_CONTRAST)
    return candidates[far[0] if far.size else distance.argmax()]


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Float (3, size, size) background: a colour gradient plus a random mix of textures.

    Gaussian noise is added to the whole image later, objects included.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    along = xx * np.cos(theta) + yy * np.sin(theta)  # pixel coordinate along a random direction
    across = -xx * np.sin(theta) + yy * np.cos(theta)
    t = (along - along.min()) / (along.max() - along.min())
    c0, c1 = rng.uniform(30, 225, (2, 3, 1, 1)).astype(np.float32)
    image = c0 + t * (c1 - c0)

    textures = []
    if rng.random() < 0.5:  # stripes, soft or hard
        wave = np.sin(2 * np.pi * along / rng.uniform(6, 32) + rng.uniform(0, 2 * np.pi))
        textures.append(np.sign(wave) if rng.random() < 0.5 else wave)
    if rng.random() < 0.4:  # checkerboard in the same rotated frame
        cell = rng.uniform(4, 24)
        textures.append((np.floor(along / cell) + np.floor(across / cell)) % 2 * 2 - 1)
    if rng.random() < 0.5:  # smooth blotches: coarse noise upsampled
        k = int(rng.integers(3, 11))
        coarse = Image.fromarray(rng.uniform(-1, 1, (k, k)).astype(np.float32))
        textures.append(np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC)))
    for texture in textures:
        tint = rng.uniform(-1, 1, (3, 1, 1)).astype(np.float32)  # texture colour direction
        image += tint * (rng.uniform(10, 35) * texture)
    return image
