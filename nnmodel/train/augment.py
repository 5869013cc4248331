"""Random affine augmentation of uint8 digits (rotation, scale, shear, shift), vectorised bilinear.

Output stays uint8 (rounded), so the QAT forward sees valid integer pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import NNModelError

CHUNK = 2048  # images per vectorised batch: bounds temporary memory to ~100 MB


@dataclass(frozen=True)
class AugmentConfig:
    rotate: float = 0.0  # max |degrees|
    shift: float = 0.0  # max |pixels| in x and y
    scale: float = 0.0  # max relative zoom, e.g. 0.1 → 0.9..1.1
    shear: float = 0.0  # max |shear| (tan of the angle)

    @property
    def active(self) -> bool:
        return any((self.rotate, self.shift, self.scale, self.shear))

    def describe(self) -> str:
        if not self.active:
            return "none"
        return f"rotate={self.rotate:g},shift={self.shift:g},scale={self.scale:g},shear={self.shear:g}"


def parse_augment(text: str) -> AugmentConfig:
    """'none' or comma-separated KEY=VALUE with keys rotate, shift, scale, shear."""
    text = text.strip()
    if text in ("", "none"):
        return AugmentConfig()
    values: dict[str, float] = {}
    for item in text.split(","):
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or key not in AugmentConfig.__dataclass_fields__:
            raise NNModelError(f"--augment {text!r}: {item!r} is not KEY=VALUE with KEY one of rotate, shift, "
                               "scale, shear; e.g. --augment rotate=12,shift=2,scale=0.1")
        try:
            values[key] = float(val)
        except ValueError:
            raise NNModelError(f"--augment {text!r}: {val!r} is not a number") from None
        if not 0 <= values[key] < 90:
            raise NNModelError(f"--augment {text!r}: {key} must be >= 0 (and small)")
    return AugmentConfig(**values)


def augment(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A randomly transformed copy of uint8 images [N, H, W]; each image gets its own transform."""
    if not cfg.active:
        return images
    out = np.empty_like(images)
    for start in range(0, len(images), CHUNK):
        out[start:start + CHUNK] = _warp(images[start:start + CHUNK], cfg, rng)
    return out


def _warp(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    n, h, w = images.shape
    angle = np.deg2rad(rng.uniform(-cfg.rotate, cfg.rotate, n))
    zoom = rng.uniform(1.0 - cfg.scale, 1.0 + cfg.scale, n)
    shear = rng.uniform(-cfg.shear, cfg.shear, n)
    tx, ty = rng.uniform(-cfg.shift, cfg.shift, (2, n))
    # Inverse map: output pixel → source pixel, about the image centre.
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    a, b, c, d = cos, -sin + shear * cos, sin, cos + shear * sin
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.mgrid[0:h, 0:w]
    ox = (xx.ravel()[None, :] - cx - tx[:, None])
    oy = (yy.ravel()[None, :] - cy - ty[:, None])
    sx = a[:, None] * ox + b[:, None] * oy + cx
    sy = c[:, None] * ox + d[:, None] * oy + cy
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    # Pad by one pixel of background so out-of-range taps read 0.
    padded = np.zeros((n, h + 2, w + 2), np.float64)
    padded[:, 1:-1, 1:-1] = images
    flat = padded.reshape(n, -1)
    base = np.arange(n)[:, None] * flat.shape[1]
    x0c, x1c = np.clip(x0 + 1, 0, w + 1), np.clip(x0 + 2, 0, w + 1)
    y0c, y1c = np.clip(y0 + 1, 0, h + 1), np.clip(y0 + 2, 0, h + 1)
    f = flat.ravel()
    stride = w + 2
    v00 = f[base + y0c * stride + x0c]
    v01 = f[base + y0c * stride + x1c]
    v10 = f[base + y1c * stride + x0c]
    v11 = f[base + y1c * stride + x1c]
    val = (v00 * (1 - fx) + v01 * fx) * (1 - fy) + (v10 * (1 - fx) + v11 * fx) * fy
    return np.clip(np.rint(val), 0, 255).astype(np.uint8).reshape(n, h, w)
