import math

import numpy as np
import pytest
import torch

from float_bounds import EPS32
from xai_widgets.similarity.transforms import (
    Sweep,
    affine_matrix,
    cell_correspondence,
    rotate,
    scale,
    sweep,
)


def block_image(grid_hw, cell, px=8, channels=1, block=None):
    """A black image of grid_hw cells of px x px pixels with a bright square centred in ``cell``."""
    h, w = grid_hw
    img = torch.zeros(1, channels, h * px, w * px, dtype=torch.float64)
    b = px if block is None else block
    i, j = cell
    top, left = i * px + (px - b) // 2, j * px + (px - b) // 2
    img[:, :, top:top + b, left:left + b] = 1.0
    return img


def brightest_cell(img, grid_hw):
    """The cell whose pixels hold the most brightness (image 1 x C x H x W)."""
    h, w = grid_hw
    per_cell = torch.nn.functional.adaptive_avg_pool2d(img.sum(1, keepdim=True), (h, w))[0, 0]
    k = int(per_cell.argmax())
    return k // w, k % w


def centroid_px(img):
    """Brightness centroid (x, y) in pixel coordinates, pixel centres at k + 0.5."""
    m = img.sum((0, 1))
    ys = torch.arange(m.shape[0], dtype=m.dtype) + 0.5
    xs = torch.arange(m.shape[1], dtype=m.dtype) + 0.5
    total = m.sum()
    return float((m.sum(0) * xs).sum() / total), float((m.sum(1) * ys).sum() / total)


def test_rotation_90_is_counter_clockwise_on_screen_and_correspondence_agrees():
    n = 4
    # Cell (1, 3): right edge, upper half. Counter-clockwise by 90 it goes to the top edge,
    # left half: (n - 1 - j, i) = (0, 1).
    img = block_image((n, n), (1, 3))
    out = rotate(img, 90)
    assert brightest_cell(out, (n, n)) == (0, 1)
    # exact pixel permutation at 90 degrees: the block is intact, nothing else lit
    assert out.sum().item() == pytest.approx(img.sum().item(), abs=1e-9)
    assert out[0, 0, 0:8, 8:16].min().item() == pytest.approx(1.0, abs=1e-9)
    rows, cols, valid = cell_correspondence("rotate", 90, (n, n))
    assert valid.all()
    for i in range(n):
        for j in range(n):
            assert (rows[i, j].item(), cols[i, j].item()) == (n - 1 - j, i)


def test_rotation_180_and_minus_90():
    n = 5
    rows, cols, valid = cell_correspondence("rotate", 180, (n, n))
    ii, jj = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    assert valid.all()
    assert torch.equal(rows, n - 1 - ii) and torch.equal(cols, n - 1 - jj)
    rows, cols, _ = cell_correspondence("rotate", -90, (n, n))  # clockwise: (i, j) -> (j, n - 1 - i)
    assert torch.equal(rows, jj) and torch.equal(cols, n - 1 - ii)
    assert brightest_cell(rotate(block_image((n, n), (0, 1)), -90), (n, n)) == (1, 4)


@pytest.mark.parametrize("grid", [(4, 4), (3, 7), (6, 2)])
def test_identities(grid):
    ii, jj = torch.meshgrid(torch.arange(grid[0]), torch.arange(grid[1]), indexing="ij")
    img = torch.rand(2, 3, grid[0] * 8, grid[1] * 8)
    for kind, value in (("rotate", 0), ("scale", 1), ("rotate", 360)):
        rows, cols, valid = cell_correspondence(kind, value, grid)
        assert valid.all() and torch.equal(rows, ii) and torch.equal(cols, jj), (kind, value)
    # float32 grid rounding: a sampling position in [-1, 1] carries a few eps of error, about
    # 3 eps * size in pixels after unnormalising, which shifts the bilinear weights between
    # neighbours that differ by <= 1 here: within 3 eps (H + W) (2.9e-5 for 24 x 56)
    tol = 3 * EPS32 * sum(img.shape[-2:])
    torch.testing.assert_close(rotate(img, 0), img, atol=tol, rtol=0)
    torch.testing.assert_close(scale(img, 1), img, atol=tol, rtol=0)


def test_scale_2_moves_centre_cells_outward_and_drops_the_border():
    n = 8
    rows, cols, valid = cell_correspondence("scale", 2, (n, n))
    # the central half (cells 2..5) stays, the outer two rings fall outside the crop
    inside = torch.zeros(n, dtype=torch.bool)
    inside[2:6] = True
    assert torch.equal(valid, inside[:, None] & inside[None, :])
    assert (rows[~valid] == -1).all() and (cols[~valid] == -1).all()
    # cell k (centre at (2k + 1)/n - 1) -> 2x further from the centre -> cell 2k - 3 (edges go right/down)
    assert cols[3].tolist()[2:6] == [1, 3, 5, 7]
    assert rows[:, 4].tolist()[2:6] == [1, 3, 5, 7]
    # the images agree: a block in cell (2, 5) ends up around cell (1, 7)
    img = block_image((n, n), (2, 5), px=8, block=2)
    out = scale(img, 2)
    r, c = brightest_cell(out, (n, n))
    assert abs(r - rows[2, 5].item()) <= 1 and abs(c - cols[2, 5].item()) <= 1
    # ... while content of the border is gone entirely
    assert scale(block_image((n, n), (0, 0), px=8), 2).abs().max().item() < 1e-9


def test_scale_below_1_adds_a_zero_border_and_keeps_every_cell():
    n = 8
    img = torch.ones(1, 3, 64, 64)
    out = scale(img, 0.5)
    assert out[..., :12, :].abs().max() == 0 and out[..., -12:, :].abs().max() == 0
    assert out[..., 20:44, 20:44].min() == pytest.approx(1.0)
    rows, cols, valid = cell_correspondence("scale", 0.5, (n, n))
    assert valid.all()
    assert rows[:, 0].tolist() == [2, 2, 3, 3, 4, 4, 5, 5]  # centre-ward, two cells per cell


def test_rotation_keeps_zero_padding_artefacts_visible():
    img = torch.ones(1, 3, 32, 32)
    out = rotate(img, 45)
    assert out[0, :, 0, 0].abs().max() == 0  # corner is black fill, not clamped or masked
    assert out[0, :, 16, 16].min() == pytest.approx(1.0)


def test_non_square_rotation_is_a_rotation_in_pixels():
    h, w, px = 4, 8, 8  # image 32 x 64 pixels
    img = block_image((h, w), (1, 3), px=px, block=4)
    out = rotate(img, 90)
    # a 4 x 4 pixel block stays 4 x 4 (a rotation in normalised coordinates would stretch it)
    lit = out[0, 0] > 0.5
    assert lit.sum().item() == 16
    ys, xs = lit.nonzero(as_tuple=True)
    assert ys.max() - ys.min() == 3 and xs.max() - xs.min() == 3
    # the block's centre moved where the pixel-space rotation says, and the correspondence agrees
    cx, cy = centroid_px(img)
    X, Y = cx - w * px / 2, cy - h * px / 2  # about the centre, y down
    X2, Y2 = Y, -X  # counter-clockwise on screen by 90
    gx, gy = centroid_px(out)
    assert (gx, gy) == pytest.approx((X2 + w * px / 2, Y2 + h * px / 2), abs=1e-6)
    rows, cols, valid = cell_correspondence("rotate", 90, (h, w))
    assert valid[1, 3]
    assert (rows[1, 3].item(), cols[1, 3].item()) == brightest_cell(out, (h, w))
    # content far left or right of the centre rotates out of the short image
    assert not valid[:, 0].any() and not valid[:, -1].any()
    # image_hw only matters through its aspect ratio
    for a, b in zip(cell_correspondence("rotate", 30, (h, w)), cell_correspondence("rotate", 30, (h, w), (32, 64))):
        assert torch.equal(a, b)


def test_image_hw_differs_from_grid_aspect():
    # a 4 x 4 grid on a 2:1 image: correspondence must use the image's aspect, not the grid's
    r1, c1, v1 = cell_correspondence("rotate", 90, (4, 4), image_hw=(32, 64))
    r2, c2, v2 = cell_correspondence("rotate", 90, (4, 4))
    assert not torch.equal(v1, v2)
    img = torch.zeros(1, 1, 32, 64, dtype=torch.float64)
    img[..., 8:16, 32:48] = 1  # cell (1, 2) of the 4 x 4 grid (cells are 8 x 16 px)
    out = rotate(img, 90)
    assert v1[1, 2]
    per_cell = torch.nn.functional.adaptive_avg_pool2d(out, (4, 4))[0, 0]
    k = int(per_cell.argmax())
    assert abs(k // 4 - r1[1, 2].item()) <= 1 and abs(k % 4 - c1[1, 2].item()) <= 1


@pytest.mark.parametrize("grid", [(8, 8), (6, 10), (10, 5)])
@pytest.mark.parametrize("kind, values", [
    ("rotate", [15, 30, 45, 90, 135, -60, 200]),
    ("scale", [0.6, 0.8, 1.25, 1.7]),
])
def test_images_commute_with_the_correspondence(grid, kind, values):
    """Mark a cell, transform the image, and find the mark where the correspondence says."""
    h, w = grid
    px, block = 8, 4
    warp = {"rotate": rotate, "scale": scale}[kind]
    counts = {"inside": 0, "outside": 0, "gone": 0}
    marked = torch.cat([block_image(grid, (i, j), px=px, block=block) for i in range(h) for j in range(w)])
    for value in values:
        rows, cols, valid = cell_correspondence(kind, value, grid)
        m = affine_matrix(kind, value, (h * px, w * px)).numpy()
        warped = warp(marked, value)  # one image per marked cell
        for i in range(h):
            for j in range(w):
                out = warped[i * w + j][None]
                # the mark's corners and centre, normalised, mapped by M (independently of the images)
                top, left = i * px + (px - block) // 2, j * px + (px - block) // 2
                corners = np.array([[left, top], [left + block, top], [left, top + block], [left + block, top + block]])
                corners_n = corners / np.array([w * px, h * px]) * 2 - 1
                mapped = corners_n @ m.T
                centre = np.array([(j + 0.5) / w, (i + 0.5) / h]) * 2 - 1
                cx2, cy2 = m @ centre
                if np.abs(mapped).max() < 1 - 1e-9:  # the whole mark stays inside
                    assert valid[i, j], (value, i, j)
                    gx, gy = centroid_px(out)
                    # the centroid is the mapped centre (affine maps keep centroids), to within a pixel
                    assert abs((cx2 + 1) / 2 * w * px - gx) < 1.0 and abs((cy2 + 1) / 2 * h * px - gy) < 1.0
                    r, c = int(gy // px), int(gx // px)
                    assert abs(r - rows[i, j].item()) <= 1 and abs(c - cols[i, j].item()) <= 1, (value, i, j)
                    counts["inside"] += 1
                elif max(abs(cx2), abs(cy2)) > 1 + 1e-9:  # the cell's centre left the image
                    assert not valid[i, j], (value, i, j)
                    margin = 2 / np.array([w * px, h * px])  # a pixel of bilinear bleed
                    if ((mapped > 1 + margin).all(axis=0) | (mapped < -1 - margin).all(axis=0)).any():
                        assert out.abs().max() < 1e-6  # ... and so did the whole mark: nothing lit
                        counts["gone"] += 1
                    counts["outside"] += 1
    assert counts["inside"] > len(values) * h * w // 3
    assert counts["outside"] > 0 and counts["gone"] > 0


def test_sweep_batches_copies_and_correspondence():
    img = torch.rand(3, 40, 24)
    values = [0, 30, 90, 180]
    s = sweep(img, "rotate", values)
    assert isinstance(s, Sweep) and s.images.shape == (4, 3, 40, 24)
    for k, v in enumerate(values):
        torch.testing.assert_close(s.images[k], rotate(img, v), atol=1e-5, rtol=0)
    rows, cols, valid = s.correspondence((10, 6))
    assert rows.shape == cols.shape == valid.shape == (4, 10, 6)
    r1, c1, v1 = cell_correspondence("rotate", 30, (10, 6), (40, 24))
    assert torch.equal(rows[1], r1) and torch.equal(cols[1], c1) and torch.equal(valid[1], v1)


def test_sweep_similarity_follows_the_content():
    """With 'activations' that are the image itself (a C x h x w grid of cell colours), each cell
    of a 180-degree copy is most similar to its corresponding cell, and invalid cells are NaN."""
    torch.manual_seed(0)
    acts = torch.rand(1, 16, 4, 4)
    s = sweep(torch.zeros(1, 3, 32, 32), "rotate", [0, 180, 45])
    swept = torch.cat([acts, acts.flip(-1).flip(-2), acts])  # what the layer would see
    sims = s.similarity(acts, swept)
    assert sims.shape == (3, 4, 4)
    # a cosine of 16-channel vectors in float32: a 16-term dot product and two 16-term norms,
    # a sqrt, a product and a division, (2 * 16 + 4) roundings of u = eps / 2 at most
    tol = (2 * acts.shape[1] + 4) * EPS32 / 2
    torch.testing.assert_close(sims[0], torch.ones(4, 4), atol=tol, rtol=0)
    torch.testing.assert_close(sims[1], torch.ones(4, 4), atol=tol, rtol=0)
    _, _, valid = s.correspondence((4, 4))
    assert torch.isnan(sims[2]).equal(~valid[2]) and (~valid[2]).any()
    with pytest.raises(ValueError, match="one per value"):
        s.similarity(acts, swept[:2])


def test_scale_sweep_zoom_in_and_out():
    img = torch.rand(1, 3, 32, 32)
    s = sweep(img, "scale", [0.5, 1, 2])
    torch.testing.assert_close(s.images[1:2], img, atol=1e-5, rtol=0)
    torch.testing.assert_close(s.images[2:3], scale(img, 2), atol=1e-6, rtol=0)
    _, _, valid = s.correspondence((4, 4))
    assert valid[0].all() and valid[1].all() and valid[2].sum() == 4


def test_custom_transform_protocol():
    img = torch.rand(1, 3, 16, 24)
    flip = lambda images, value: images.flip(-1)  # noqa: E731
    mirror = lambda x, y, value: (-x, y)  # noqa: E731
    s = sweep(img, flip, [0], correspondence=mirror)
    torch.testing.assert_close(s.images, img.flip(-1))
    rows, cols, valid = s.correspondence((2, 3))
    assert valid.all() and cols[0].tolist() == [[2, 1, 0], [2, 1, 0]] and rows[0].tolist() == [[0, 0, 0], [1, 1, 1]]
    # a translation by half the width: the right half leaves the image
    shift = lambda x, y, value: (x + value, y)  # noqa: E731
    _, cols, valid = cell_correspondence(lambda im, v: im, 1.0, (2, 4), correspondence=shift)
    assert valid.tolist() == [[True, True, False, False]] * 2 and cols[0, :2].tolist() == [2, 3]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown transform kind"):
        cell_correspondence("shear", 1, (4, 4))
    with pytest.raises(ValueError, match="positive"):
        scale(torch.zeros(1, 1, 4, 4), 0)
    with pytest.raises(ValueError, match="needs a correspondence"):
        sweep(torch.zeros(1, 1, 4, 4), lambda im, v: im, [1])
    with pytest.raises(ValueError, match="for callable transforms"):
        cell_correspondence("rotate", 10, (4, 4), correspondence=lambda x, y, v: (x, y))
    with pytest.raises(ValueError, match="floating point"):
        rotate(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), 10)
    with pytest.raises(ValueError, match="one image"):
        sweep(torch.zeros(2, 1, 4, 4), "rotate", [1])
    with pytest.raises(ValueError, match="grid_hw"):
        cell_correspondence("rotate", 10, (0, 4))
    with pytest.raises(ValueError, match="N x C x H x W"):
        rotate(torch.zeros(4, 4), 10)


def test_runs_on_the_input_device_and_dtype():
    img = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    out = rotate(img, 33)
    assert out.dtype == torch.float64 and out.device == img.device and out.shape == img.shape
    assert rotate(img[0], 33).shape == (3, 8, 8)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        x = torch.rand(1, 3, 16, 16, device=device)
        s = sweep(x, "rotate", [0, 45])
        assert s.images.device == x.device
        rows, _, _ = s.correspondence((4, 4))
        assert rows.device == x.device
        acts = torch.rand(1, 8, 4, 4, device=device)
        assert s.similarity(acts, acts.expand(2, -1, -1, -1)).device == x.device
    assert math.isclose(float(affine_matrix("rotate", 90, (10, 20))[0, 1]), 0.5)


def test_warp_of_one_image_with_several_maps_gives_every_copy():
    """A single C x H x W image warped by several maps gives one copy per map, each the
    image warped by that map alone (90-degree turns: the exact pixel permutation)."""
    from xai_widgets.core.warp import affine_matrix, warp

    img = torch.rand(2, 6, 6, generator=torch.Generator().manual_seed(3))
    copies = warp(img, [affine_matrix("rotate", d, (6, 6)) for d in (90, 180)])
    assert copies.shape == (2, 2, 6, 6)
    torch.testing.assert_close(copies[0], torch.rot90(img, 1, dims=(1, 2)), atol=1e-5, rtol=0)
    torch.testing.assert_close(copies[1], torch.rot90(img, 2, dims=(1, 2)), atol=1e-5, rtol=0)
    assert warp(img, [affine_matrix("rotate", 90, (6, 6))]).shape == (2, 6, 6)
