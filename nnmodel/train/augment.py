"""Random affine augmentation of uint8 digits (rotation, scale, shear, shift), optionally with an
elastic distortion (Simard et al. 2003: a random displacement field smoothed by a Gaussian),
vectorised bilinear.

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
    elastic: float = 0.0  # elastic distortion strength alpha (pixels), e.g. 34 with sigma 4
    sigma: float = 4.0  # smoothing of the elastic displacement field (pixels)

    @property
    def active(self) -> bool:
        return any((self.rotate, self.shift, self.scale, self.shear, self.elastic))

    def describe(self) -> str:
        if not self.active:
            return "none"
        text = f"rotate={self.rotate:g},shift={self.shift:g},scale={self.scale:g},shear={self.shear:g}"
        return text + (f",elastic={self.elastic:g},sigma={self.sigma:g}" if self.elastic else "")


def parse_augment(text: str) -> AugmentConfig:
    """'none' or comma-separated KEY=VALUE with keys rotate, shift, scale, shear, elastic, sigma."""
    text = text.strip()
    if text in ("", "none"):
        return AugmentConfig()
    values: dict[str, float] = {}
    for item in text.split(","):
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or key not in AugmentConfig.__dataclass_fields__:
            raise NNModelError(f"--augment {text!r}: {item!r} is not KEY=VALUE with KEY one of rotate, shift, "
                               "scale, shear, elastic, sigma; e.g. --augment rotate=12,shift=2,scale=0.1")
        try:
            values[key] = float(val)
        except ValueError:
            raise NNModelError(f"--augment {text!r}: {val!r} is not a number") from None
        if not 0 <= values[key] < 90 or (key == "sigma" and values[key] <= 0):
            raise NNModelError(f"--augment {text!r}: {key} must be >= 0 (and small; sigma > 0)")
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
    if cfg.elastic:  # drawn last, so the affine draws match a config without elastic
        g_y, g_x = _gaussian_matrix(h, cfg.sigma), _gaussian_matrix(w, cfg.sigma)
        field = rng.uniform(-1.0, 1.0, (2, n, h, w))
        smooth = g_y @ field @ g_x.T  # separable Gaussian blur (zero padding) of each field
        sx = sx + cfg.elastic * smooth[0].reshape(n, -1)
        sy = sy + cfg.elastic * smooth[1].reshape(n, -1)
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


def _gaussian_matrix(size: int, sigma: float) -> np.ndarray:
    """[size, size] matrix that blurs a vector with a normalised Gaussian (zero outside)."""
    i = np.arange(size)
    radius = int(4 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    diff = i[None, :] - i[:, None]
    return np.where(np.abs(diff) <= radius, taps[np.clip(diff + radius, 0, 2 * radius)], 0.0)
