"""Pen strokes that trace an MNIST digit, for driving the draw-a-digit page like a person would.

The digit is upsampled, thresholded and thinned to its skeleton (Zhang-Suen); the skeleton's pixels
are walked into polylines, one per stroke, preferring to go straight on at junctions.
"""
from __future__ import annotations

import numpy as np

UPSAMPLE = 4  # thinning at 4x the 28x28 resolution gives smoother centre lines


def upsample(image: np.ndarray, factor: int = UPSAMPLE) -> np.ndarray:
    """Bilinear, pixel centres aligned: float image of factor times the size."""
    h, w = image.shape
    ys = (np.arange(h * factor) + 0.5) / factor - 0.5
    xs = (np.arange(w * factor) + 0.5) / factor - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = np.clip(ys - y0, 0, 1)[:, None], np.clip(xs - x0, 0, 1)[None, :]
    img = image.astype(np.float64)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def thin(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: True pixels reduced to 8-connected lines one pixel wide."""
    sk = np.pad(binary.astype(bool), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = sk[1:-1, 1:-1]
            # neighbours P2..P9, clockwise from north
            p = [sk[:-2, 1:-1], sk[:-2, 2:], sk[1:-1, 2:], sk[2:, 2:], sk[2:, 1:-1], sk[2:, :-2], sk[1:-1, :-2],
                 sk[:-2, :-2]]
            count = sum(q.astype(int) for q in p)
            transitions = sum((~p[k] & p[(k + 1) % 8]).astype(int) for k in range(8))
            p2, p4, p6, p8 = p[0], p[2], p[4], p[6]
            if step == 0:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = c & (count >= 2) & (count <= 6) & (transitions == 1) & cond
            if remove.any():
                sk[1:-1, 1:-1] = c & ~remove
                changed = True
        if not changed:
            return sk[1:-1, 1:-1]


def _graph(skeleton: np.ndarray) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """8-neighbour adjacency of skeleton pixels; a diagonal step is dropped where an L of two
    orthogonal steps joins the same pixels (it would make a tiny triangle)."""
    pixels = {(int(y), int(x)) for y, x in zip(*np.nonzero(skeleton))}
    adj: dict[tuple[int, int], set[tuple[int, int]]] = {p: set() for p in pixels}
    for y, x in pixels:
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                q = (y + dy, x + dx)
                if q == (y, x) or q not in pixels:
                    continue
                if dy and dx and ((y + dy, x) in pixels or (y, x + dx) in pixels):
                    continue
                adj[(y, x)].add(q)
    return adj


def _walk(adj, start, used) -> list[tuple[int, int]]:
    path, here, heading = [start], start, None
    while True:
        options = [q for q in adj[here] if frozenset((here, q)) not in used]
        if not options:
            return path
        if heading is None:
            nxt = min(options)
        else:  # go as straight on as the skeleton allows
            nxt = max(options, key=lambda q: (q[0] - here[0]) * heading[0] + (q[1] - here[1]) * heading[1])
        used.add(frozenset((here, nxt)))
        heading = (nxt[0] - here[0], nxt[1] - here[1])
        path.append(nxt)
        here = nxt


def simplify(points: list[tuple[int, int]], tolerance: float) -> list[tuple[int, int]]:
    """Ramer-Douglas-Peucker: the fewest points whose polyline stays within tolerance of points."""
    if len(points) < 3:
        return points
    a, b = np.array(points[0], float), np.array(points[-1], float)
    d = b - a
    rel = np.array(points, float) - a
    if np.hypot(*d) > 0:
        dist = np.abs(rel[:, 0] * d[1] - rel[:, 1] * d[0]) / np.hypot(*d)
    else:
        dist = np.hypot(rel[:, 0], rel[:, 1])
    k = int(np.argmax(dist))
    if dist[k] <= tolerance:
        return [points[0], points[-1]]
    return simplify(points[:k + 1], tolerance)[:-1] + simplify(points[k:], tolerance)


def strokes(image: np.ndarray, *, threshold: float = 100, min_points: int = 6, tolerance: float = 1.0,
            canvas: float = 280.0) -> list[list[tuple[float, float]]]:
    """Polylines in canvas coordinates (the digit's 28x28 field spread over canvas x canvas px)
    that trace the digit's centre lines: spurs shorter than min_points skeleton pixels dropped, and
    simplified to within `tolerance` skeleton pixels (a quarter of an MNIST pixel)."""
    skeleton = thin(upsample(image) >= threshold)
    adj = _graph(skeleton)
    used: set[frozenset] = set()
    paths = []
    # Line ends first (so strokes start where a pen would), then closed loops from anywhere.
    for start in sorted(adj, key=lambda p: (len(adj[p]) != 1, p)):
        while any(frozenset((start, q)) not in used for q in adj[start]):
            paths.append(_walk(adj, start, used))
    if not paths:
        return []
    longest = max(len(p) for p in paths)
    keep = [p for p in paths if len(p) >= min(min_points, longest)]
    unit = canvas / (image.shape[1] * UPSAMPLE)
    return [[((x + 0.5) * unit, (y + 0.5) * unit) for y, x in simplify(p, tolerance)] for p in keep]
