"""Piecewise-affine image warping over a triangle mesh, and soft-mask helpers.

The virtual dubber (deforming the reference frame) and the alignment stage (rendering the
virtual dubber's face onto the actor frame) both move an image so that a set of landmarks
lands on another set. Each triangle of the mesh gets its own affine map; pixels are pulled
from the source with one ``cv2.remap`` (backward mapping, so there are no holes).
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles of 2D points. points: N x 2. Returns M x 3 int indices."""
    return Delaunay(np.asarray(points, np.float64)).simplices.astype(np.int32)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed area of each triangle (positive when counter-clockwise in x-right, y-down pixels).

    points: N x 2+; triangles: M x 3. Returns M.
    """
    a, b, c = (points[triangles[:, i], :2].astype(np.float64) for i in range(3))
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def visible_triangles(src_points: np.ndarray, dst_points: np.ndarray, triangles: np.ndarray,
                      depth: np.ndarray | None = None, min_area: float = 1e-3) -> np.ndarray:
    """The triangles to draw when a mesh moves from ``src_points`` to ``dst_points``, far to near.

    A triangle whose winding flips between source and destination faces away from the camera
    (a cheek behind the nose on a turned head) or has folded over: it is dropped, as are
    triangles that collapse to (nearly) no area. With ``depth`` (N per-vertex depths of the
    destination, smaller = nearer, MediaPipe's convention) the rest are sorted far to near,
    so that drawn in order, the nearer surface wins where the projection overlaps itself.

    src_points, dst_points: N x 2+; triangles: M x 3. Returns K x 3 (K <= M).
    """
    src_area = signed_areas(src_points, triangles)
    dst_area = signed_areas(dst_points, triangles)
    keep = (np.sign(src_area) == np.sign(dst_area)) & (np.abs(dst_area) > min_area)
    kept = triangles[keep]
    if depth is not None:
        kept = kept[np.argsort(-np.asarray(depth, np.float64)[kept].mean(axis=1), kind="stable")]
    return kept


def _affine_per_triangle(dst: np.ndarray, src: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """2x3 affine maps taking each destination triangle onto its source triangle: M x 2 x 3."""
    d = dst[triangles]  # M x 3 x 2
    s = src[triangles]
    ones = np.ones((len(triangles), 3, 1))
    a = np.concatenate([d, ones], axis=2)  # M x 3 x 3
    # Degenerate (zero-area) destination triangles cover no pixel; lstsq keeps them finite.
    det = np.linalg.det(a)
    ok = np.abs(det) > 1e-9
    maps = np.zeros((len(triangles), 2, 3))
    maps[ok] = np.linalg.solve(a[ok], s[ok]).transpose(0, 2, 1)
    return maps


def _rasterize(dst_points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]):
    """Triangle id per pixel inside the bounding box of ``dst_points`` (-1 outside the mesh).

    Returns ``(label, x0, y0)`` or None when the mesh is off the image.
    """
    h, w = shape
    x0, y0 = np.floor(dst_points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(dst_points.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    label = np.full((y1 - y0, x1 - x0), -1, np.int32)
    shift = 4  # 1/16 pixel precision
    # Drawn in order: where triangles overlap, the later one owns the pixel.
    local = np.round((dst_points - [x0, y0]) * (1 << shift)).astype(np.int32)
    for idx, tri in enumerate(triangles):
        cv2.fillConvexPoly(label, local[tri], int(idx), lineType=cv2.LINE_8, shift=shift)
    return label, x0, y0


def piecewise_affine(
    src_image: np.ndarray,
    src_points: np.ndarray,
    dst_points: np.ndarray,
    triangles: np.ndarray,
    out_shape: tuple[int, int],
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``src_image`` so that ``src_points`` move to ``dst_points``.

    src_image: Hs x Ws x C. src_points, dst_points: N x 2 (x, y pixels). triangles: M x 3.
    out_shape: (H, W) of the result. background: H x W x C used where no triangle covers
    the pixel (default zeros).

    Returns ``(image H x W x C, coverage H x W bool)``; coverage marks pixels inside the
    destination mesh.
    """
    src_points = np.asarray(src_points, np.float64)
    dst_points = np.asarray(dst_points, np.float64)
    out = np.zeros(tuple(out_shape) + src_image.shape[2:], src_image.dtype) if background is None else background.copy()
    coverage = np.zeros(out_shape, bool)
    raster = _rasterize(dst_points, triangles, out_shape)
    if raster is None:
        return out, coverage
    label, x0, y0 = raster
    inside = label >= 0
    if not inside.any():
        return out, coverage
    maps = _affine_per_triangle(dst_points, src_points, triangles)
    ys, xs = np.nonzero(inside)
    m = maps[label[ys, xs]]
    gx = xs + x0
    gy = ys + y0
    map_x = np.full(label.shape, -1.0, np.float32)
    map_y = np.full(label.shape, -1.0, np.float32)
    map_x[ys, xs] = m[:, 0, 0] * gx + m[:, 0, 1] * gy + m[:, 0, 2]
    map_y[ys, xs] = m[:, 1, 0] * gx + m[:, 1, 1] * gy + m[:, 1, 2]
    warped = cv2.remap(src_image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    h, w = label.shape
    out[y0:y0 + h, x0:x0 + w][inside] = warped[inside]
    coverage[y0:y0 + h, x0:x0 + w] = inside
    return out, coverage


def interpolate_vertex_values(points: np.ndarray, values: np.ndarray, triangles: np.ndarray,
                              shape: tuple[int, int]) -> np.ndarray:
    """Barycentric interpolation of per-vertex scalars over the mesh's triangles.

    points: N x 2 pixels; values: N; triangles: M x 3. Returns H x W float32, 0 off the mesh.
    """
    points = np.asarray(points, np.float64)
    out = np.zeros(shape, np.float32)
    raster = _rasterize(points, triangles, shape)
    if raster is None:
        return out
    label, x0, y0 = raster
    ys, xs = np.nonzero(label >= 0)
    if len(ys) == 0:
        return out
    # The affine map from pixel to (u, v) barycentric coordinates, per triangle.
    tri_uv = np.zeros((len(triangles), 3, 2))
    tri_uv[:] = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
    flat_pts = points[triangles].reshape(-1, 2)
    maps = _affine_per_triangle(flat_pts, tri_uv.reshape(-1, 2), np.arange(3 * len(triangles)).reshape(-1, 3))
    m = maps[label[ys, xs]]
    gx, gy = xs + x0, ys + y0
    u = m[:, 0, 0] * gx + m[:, 0, 1] * gy + m[:, 0, 2]
    v = m[:, 1, 0] * gx + m[:, 1, 1] * gy + m[:, 1, 2]
    vals = values[triangles[label[ys, xs]]]
    out[gy, gx] = (1 - u - v) * vals[:, 0] + u * vals[:, 1] + v * vals[:, 2]
    return out


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """Filled polygon as a float32 mask in [0, 1]. polygon: K x 2 pixels."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
    return mask.astype(np.float32) / 255.0


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften a [0, 1] mask inward: erode by ``radius`` then blur by ``radius``.

    The result is 0 outside the original mask and reaches 1 about 2*radius inside it, so a
    blended patch never bleeds past the region it was rendered on.
    """
    r = max(int(round(radius)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    eroded = cv2.erode(mask.astype(np.float32), kernel)
    return cv2.GaussianBlur(eroded, (0, 0), sigmaX=r / 1.5 + 1e-3)


def blend(base: np.ndarray, overlay: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``base * (1 - alpha) + overlay * alpha`` for uint8 images; alpha: H x W in [0, 1]."""
    a = alpha[..., None].astype(np.float32)
    out = base.astype(np.float32) * (1.0 - a) + overlay.astype(np.float32) * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
