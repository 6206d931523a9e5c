"""Piecewise-affine image warping over a triangle mesh, and soft-mask helpers.

The virtual dubber (deforming the reference frame) and the alignment stage (rendering the
virtual dubber's face onto the actor frame) both move an image so that a set of landmarks
lands on another set. Each triangle of the mesh gets its own affine map; pixels are pulled
from the source with one ``cv2.remap`` (backward mapping, so there are no holes).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """2x3 affine maps taking each destination triangle onto its source triangle: M x 2 x 3.

    Closed form (``A = S D^-1`` on the edge vectors, ``b = s0 - A d0``): batched LAPACK
    solves of 3x3 systems cost far more per call than the arithmetic.
    """
    d = dst[triangles].astype(np.float64)  # M x 3 x 2
    s = src[triangles].astype(np.float64)
    de = np.stack([d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]], axis=2)  # M x 2 x 2, edges as columns
    se = np.stack([s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]], axis=2)
    det = de[:, 0, 0] * de[:, 1, 1] - de[:, 0, 1] * de[:, 1, 0]
    # Degenerate (zero-area) destination triangles cover no pixel; they keep a zero map.
    ok = np.abs(det) > 1e-9
    inv = np.zeros_like(de)
    inv[ok, 0, 0] = de[ok, 1, 1] / det[ok]
    inv[ok, 0, 1] = -de[ok, 0, 1] / det[ok]
    inv[ok, 1, 0] = -de[ok, 1, 0] / det[ok]
    inv[ok, 1, 1] = de[ok, 0, 0] / det[ok]
    a = se @ inv  # M x 2 x 2
    b = s[:, 0] - np.einsum("mij,mj->mi", a, d[:, 0])
    maps = np.concatenate([a, b[:, :, None]], axis=2)
    maps[~ok] = 0.0
    return maps


@dataclass(frozen=True)
class MeshRaster:
    """Which triangle of a mesh covers each pixel of the mesh's bounding box.

    ``label`` is h x w int32 (triangle index, -1 off the mesh) for the box whose top-left
    pixel is ``(x0, y0)`` in an image of ``shape``. One raster serves every per-pixel
    quantity of a mesh (a warp, interpolated vertex values), so triangles are drawn once.
    """

    label: np.ndarray
    x0: int
    y0: int
    shape: tuple[int, int]

    @property
    def inside(self) -> np.ndarray:
        """h x w bool: pixels covered by a triangle."""
        return self.label >= 0

    def coverage(self) -> np.ndarray:
        """H x W bool over the whole image."""
        out = np.zeros(self.shape, bool)
        h, w = self.label.shape
        out[self.y0:self.y0 + h, self.x0:self.x0 + w] = self.inside
        return out

    def apply_affine(self, maps: np.ndarray, off_mesh: float = -1.0) -> list[np.ndarray]:
        """Each pixel's own triangle's affine map (M x R x 3, R rows) applied to the pixel.

        Returns R images h x w float32, ``off_mesh`` where no triangle covers the pixel. One
        row gather over the label image, rather than an M-row gather per pixel: a few
        milliseconds a face.
        """
        rows = maps.shape[1]
        off_mesh = np.tile([0.0, 0.0, off_mesh], rows)[None]
        coeffs = np.concatenate([maps.reshape(len(maps), 3 * rows), off_mesh]).astype(np.float32)
        idx = np.where(self.inside, self.label, len(maps))
        h, w = self.label.shape
        gx = np.arange(self.x0, self.x0 + w, dtype=np.float32)[None, :]
        gy = np.arange(self.y0, self.y0 + h, dtype=np.float32)[:, None]
        per_pixel = np.take(coeffs, idx, axis=0)  # h x w x 3R: one row gather beats 3R scalar gathers
        return [per_pixel[..., 3 * r] * gx + per_pixel[..., 3 * r + 1] * gy + per_pixel[..., 3 * r + 2]
                for r in range(rows)]


def rasterize(points: np.ndarray, triangles: np.ndarray, shape: tuple[int, int]) -> MeshRaster | None:
    """Draw the mesh's triangles, in order, into a label image; None when it is off the image.

    points: N x 2 pixels; triangles: M x 3 (where triangles overlap, the later one owns the
    pixel: pass them far to near, see :func:`visible_triangles`).
    """
    points = np.asarray(points, np.float64)[:, :2]
    h, w = shape
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return None
    label = np.full((y1 - y0, x1 - x0), -1, np.int32)
    shift = 4  # 1/16 pixel precision
    polygons = np.round((points[triangles] - [x0, y0]) * (1 << shift)).astype(np.int32)
    for idx, polygon in enumerate(polygons):
        cv2.fillConvexPoly(label, polygon, idx, lineType=cv2.LINE_8, shift=shift)
    return MeshRaster(label, int(x0), int(y0), (h, w))


def piecewise_affine(
    src_image: np.ndarray,
    src_points: np.ndarray,
    dst_points: np.ndarray,
    triangles: np.ndarray,
    out_shape: tuple[int, int],
    background: np.ndarray | None = None,
    raster: MeshRaster | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``src_image`` so that ``src_points`` move to ``dst_points``.

    src_image: Hs x Ws x C. src_points, dst_points: N x 2 (x, y pixels). triangles: M x 3.
    out_shape: (H, W) of the result. background: H x W x C used where no triangle covers
    the pixel (default zeros). raster: ``rasterize(dst_points, triangles, out_shape)`` when
    the caller already has it.

    Returns ``(image H x W x C, coverage H x W bool)``; coverage marks pixels inside the
    destination mesh.
    """
    src_points = np.asarray(src_points, np.float64)[:, :2]
    dst_points = np.asarray(dst_points, np.float64)[:, :2]
    out = np.zeros(tuple(out_shape) + src_image.shape[2:], src_image.dtype) if background is None else background.copy()
    if raster is None:
        raster = rasterize(dst_points, triangles, out_shape)
    if raster is None or not raster.inside.any():
        return out, np.zeros(out_shape, bool)
    map_x, map_y = raster.apply_affine(_affine_per_triangle(dst_points, src_points, triangles))
    # Off the mesh the maps point outside the source, where a transparent border leaves the
    # background as it is: no separate paste.
    h, w = raster.label.shape
    box = out[raster.y0:raster.y0 + h, raster.x0:raster.x0 + w]
    cv2.remap(src_image, map_x, map_y, cv2.INTER_LINEAR, dst=box, borderMode=cv2.BORDER_TRANSPARENT)
    return out, raster.coverage()


def interpolate_vertex_values(points: np.ndarray, values: np.ndarray, triangles: np.ndarray,
                              shape: tuple[int, int], raster: MeshRaster | None = None) -> np.ndarray:
    """Linear (barycentric) interpolation of per-vertex scalars over the mesh's triangles.

    points: N x 2 pixels; values: N; triangles: M x 3; raster: as in :func:`piecewise_affine`.
    Returns H x W float32, 0 off the mesh.
    """
    points = np.asarray(points, np.float64)[:, :2]
    out = np.zeros(shape, np.float32)
    if raster is None:
        raster = rasterize(points, triangles, shape)
    if raster is None or not raster.inside.any():
        return out
    # A scalar that is linear over each triangle is the first row of an affine map from
    # the triangle onto (value, 0).
    target = np.stack([np.asarray(values, np.float64), np.zeros(len(points))], axis=1)
    h, w = raster.label.shape
    out[raster.y0:raster.y0 + h, raster.x0:raster.x0 + w] = raster.apply_affine(
        _affine_per_triangle(points, target, triangles)[:, :1], off_mesh=0.0)[0]
    return out


def polygon_mask(shape: tuple[int, int], polygon: np.ndarray) -> np.ndarray:
    """Filled polygon as a float32 mask in [0, 1]. polygon: K x 2 pixels."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
    return mask.astype(np.float32) / 255.0


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften a mask inward: 0 on and outside its edge, rising smoothly to 1 at 2 * radius inside.

    mask: H x W, read as binary at 0.5. Returns H x W float32 in [0, 1]. A blended patch
    therefore never bleeds past the region it was rendered on. Built on the distance to
    the edge (one linear-time transform, whatever the radius).
    """
    inside = (np.asarray(mask) > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_5)
    x = np.clip((dist - 0.5) / max(2.0 * radius, 1e-6), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def blend(base: np.ndarray, overlay: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``base * (1 - alpha) + overlay * alpha`` for uint8 images, rounded; alpha: H x W in [0, 1].

    Where alpha is 0 the result is ``base`` bit for bit.
    """
    a = np.ascontiguousarray(alpha, np.float32)
    return cv2.blendLinear(np.ascontiguousarray(base), np.ascontiguousarray(overlay), 1.0 - a, a)
