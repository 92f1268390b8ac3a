"""A small concept probe set we generate offline: shapes images with pixel masks of concepts in
four categories, for Network Dissection and Net2Vec.

Network Dissection (Bau, Zhou, Khosla, Oliva and Torralba, CVPR 2017) and Net2Vec (Fong and
Vedaldi, CVPR 2018) score units against BRODEN, 1,197 concepts with pixel masks in six
categories (objects, parts, scenes, materials, textures, colours), which cannot be downloaded
here. This set keeps the shape of BRODEN at toy scale, with answers known by construction:

* **object**: the shape of each object (circle, square, ...; one shape class per image, so the
  set is also a classification set with the shapes model's classes);
* **colour**: each object's colour, drawn from a named palette (red, green, blue, ...);
* **texture**: the background's texture (plain, stripes, checks, dots), masked where no object
  covers it;
* **part**: where inside each object a pixel lies: its edge (a band along the outline), its
  centre (a disc around the centre of the object's bounding circle) and its corners (discs around
  the outer vertices of polygons: squares, triangles, stars and crosses have corners; circles and
  rings have none).

Every mask marks pixels; an image-level label says whether a concept occurs in an image at all
(the classification probe of Net2Vec).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .shapes import CLASSES, MAX_SIZE, MIN_SIZE, object_layout, object_mask, rotation, unit_polygon

__all__ = ["ConceptSet", "CATEGORIES", "COLOURS", "TEXTURES", "PARTS", "make_concepts"]

#: Object colours by name: far apart, and each at least MIN_CONTRAST from most backgrounds.
COLOURS = {"red": (215, 38, 38), "green": (40, 170, 70), "blue": (40, 80, 225),
           "yellow": (235, 205, 40), "white": (245, 245, 245), "black": (18, 18, 18)}
TEXTURES = ("plain", "stripes", "checks", "dots")
PARTS = ("edge", "centre", "corner")
#: Each concept's category, in the order masks are listed.
CATEGORIES = {**{c: "object" for c in CLASSES}, **{c: "colour" for c in COLOURS},
              **{t: "texture" for t in TEXTURES}, **{p: "part" for p in PARTS}}
EDGE_PX = 2  # width of the edge band, in pixels at size 128 (scaled with the image)
CENTRE, CORNER = 0.15, 0.14  # radii of the centre and corner discs, in object diameters


@dataclass
class ConceptSet:
    """Images with concept masks: a torch-style dataset (``data[i]`` is ``(image, shape label)``).

    Attributes
    ----------
    images : numpy.ndarray
        N x H x W x 3 uint8 images.
    labels : numpy.ndarray
        N int64 shape-class indices into ``classes`` (one shape class per image).
    masks : dict of str to numpy.ndarray
        ``{concept: N x H x W bool}`` pixel masks, every concept of :data:`CATEGORIES`.
    categories : dict of str to str
        ``{concept: category}``: "object", "colour", "texture" or "part".
    classes : tuple of str
        The shape class names.
    """

    images: np.ndarray
    labels: np.ndarray
    masks: dict[str, np.ndarray]
    categories: dict[str, str]
    classes: tuple[str, ...] = CLASSES

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        return self.images[i], int(self.labels[i])

    @property
    def present(self) -> dict[str, np.ndarray]:
        """``{concept: N bool}``: whether each image shows the concept at all (image-level labels)."""
        return {name: mask.any(axis=(1, 2)) for name, mask in self.masks.items()}

    def concepts(self, category: str | None = None) -> list[str]:
        """The concept names, of one category (``"object"``, ``"colour"``, ``"texture"``,
        ``"part"``) or of all when ``category`` is None.

        Parameters
        ----------
        category : str or None, default None
            The category to list.

        Returns
        -------
        list of str
            Concept names in :data:`CATEGORIES` order.

        Raises
        ------
        ValueError
            If ``category`` is not one of the four.
        """
        if category is not None and category not in set(self.categories.values()):
            raise ValueError(f"category must be one of {sorted(set(self.categories.values()))} or None, "
                             f"got {category!r}")
        return [c for c, cat in self.categories.items() if category in (None, cat)]


def make_concepts(n: int, seed: int = 0, size: int = 128) -> ConceptSet:
    """Generate ``n`` images of the concept set, deterministically from ``seed``.

    Image ``i`` does not depend on ``n``: a larger set extends a smaller one with the same seed.

    Parameters
    ----------
    n : int
        Number of images (at least 1).
    seed : int, default 0
        Seed of ``numpy.random.SeedSequence``; one child per image.
    size : int, default 128
        Side of the square images in pixels (objects and bands scale with it; at least 32).

    Returns
    -------
    ConceptSet
        The images, their shape labels and the masks of every concept.

    Raises
    ------
    ValueError
        If ``n`` < 1 or ``size`` < 32.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if not (isinstance(size, (int, np.integer)) and size >= 32):
        raise ValueError(f"size must be an int >= 32 (smaller objects lose their parts), got {size!r}")
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    masks = {c: np.zeros((n, size, size), bool) for c in CATEGORIES}
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(n)):
        images[i], labels[i], found = _render(np.random.default_rng(child), size)
        for concept, mask in found.items():
            masks[concept][i] = mask
    return ConceptSet(images, labels, masks, dict(CATEGORIES))


def _render(rng: np.random.Generator, size: int):
    """One image: a textured background, 1-3 objects of one shape, each of a named colour."""
    label = int(rng.integers(len(CLASSES)))
    shape = CLASSES[label]
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    image = _background(rng, texture, size)
    found: dict[str, np.ndarray] = {}
    add = lambda name, m: found.__setitem__(name, found.get(name, np.zeros((size, size), bool)) | m)  # noqa: E731
    covered = np.zeros((size, size), bool)
    scale = size / 128
    yy, xx = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    # objects never overlap (gap 2 px), so each pixel has one colour and each outline is visible
    for cx, cy, diameter in object_layout(rng, size, MIN_SIZE * scale, MAX_SIZE * scale, gap=2.0):
        angle = rng.uniform(0, 2 * np.pi)
        alpha = object_mask(shape, cx, cy, diameter, angle, size)
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        image += alpha * (np.array(COLOURS[colour], np.float32)[:, None, None] - image)
        inside = alpha >= 0.5
        covered |= inside
        add(shape, inside)
        add(colour, inside)
        add("edge", inside & ~_eroded(inside, max(1, round(EDGE_PX * scale))))
        add("centre", inside & (np.hypot(xx - cx, yy - cy) <= CENTRE * diameter))
        add("corner", inside & _corner_discs(shape, cx, cy, diameter, angle, xx, yy))
    found[texture] = ~covered
    image += rng.uniform(0, 8) * rng.standard_normal(image.shape, np.float32)
    return np.clip(image, 0, 255).astype(np.uint8).transpose(1, 2, 0), label, found


def _background(rng: np.random.Generator, texture: str, size: int) -> np.ndarray:
    """Float (3, size, size): a mid-grey-ish colour with the texture in a second colour."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    base, ink = rng.uniform(90, 170, (2, 3, 1, 1)).astype(np.float32)
    period = rng.uniform(0.08, 0.16) * size
    theta = rng.uniform(0, np.pi)
    along = xx * np.cos(theta) + yy * np.sin(theta)
    across = -xx * np.sin(theta) + yy * np.cos(theta)
    if texture == "plain":
        pattern = np.zeros((size, size), np.float32)
    elif texture == "stripes":
        pattern = (np.floor(along / (period / 2)) % 2).astype(np.float32)
    elif texture == "checks":
        pattern = ((np.floor(along / (period / 2)) + np.floor(across / (period / 2))) % 2).astype(np.float32)
    else:  # dots on a square lattice
        u, v = (along / period) % 1 - 0.5, (across / period) % 1 - 0.5
        pattern = (np.hypot(u, v) < 0.25).astype(np.float32)
    return base + pattern * (ink - base + 60 * np.sign(ink - base))


def _eroded(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` eroded ``steps`` times by the 3 x 3 square (outside the image counts as outside)."""
    out = mask.copy()
    for _ in range(steps):
        padded = np.pad(out, 1, constant_values=False)
        h, w = out.shape
        out = np.logical_and.reduce([padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                                     for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    return out


def _corner_discs(shape: str, cx: float, cy: float, diameter: float, angle: float, xx, yy) -> np.ndarray:
    """Pixels within CORNER diameters of an outer vertex of a polygon shape (none for round ones)."""
    if shape in ("circle", "ring"):
        return np.zeros(xx.shape, bool)
    pts = unit_polygon(shape)
    outer = pts[np.linalg.norm(pts, axis=1) >= 0.9 * np.linalg.norm(pts, axis=1).max()]
    r = diameter / 2
    out = np.zeros(xx.shape, bool)
    for px, py in outer @ rotation(angle).T * r + (cx, cy):
        out |= np.hypot(xx - px, yy - py) <= CORNER * diameter
    return out
