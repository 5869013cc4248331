"""Write data/gestures.npz: SYNTHETIC 3-axis accelerometer gestures (sequence classification), numpy only.

A handheld device with a 3-axis accelerometer (±2 g range, 12-bit, 1/1024 g per LSB, 25 Hz output data
rate, like an LIS3DH in high-resolution mode) records windows of T = 32 samples (1.28 s). Axes are the
device's: x to its right, y forward, z out of its face. Five balanced classes, 500 windows each, in
random order:

    idle        only the hand's tremor; in half the windows also a slow, small fidget movement
    shake       a burst of back-and-forth shaking along the device's x axis
    circle      the device moved around a circle in its x-y plane (either direction)
    swipe_left  one quick movement to the left (−x): accelerate, then brake
    tap         a finger tap on the device's face: a sharp −z impulse and a decaying ringing

Arrays: `x` float32 (2500, 32, 3), acceleration in g (specific force, so a device lying flat reads
z = +1 g), every value a multiple of 1/1024 in [−2, 2 − 1/1024]; `y` int64 (2500,), the class index;
`labels` str (5,), the class names above in index order (labels[y] names a window's class);
`features` str (3,), the axes' names: ax, ay, az.

How a window is made (rng = np.random.default_rng(SEED), SEED = 25; every draw independent, uniform
U(a, b) unless named otherwise; the signal is built at 16 × 25 = 400 Hz and each output sample is the
mean of its 16 sub-samples, standing in for the sensor's own averaging/low-pass filter):

 1. Orientation: roll, pitch ~ U(−40°, 40°) give the device's attitude R = Ry(pitch)·Rx(roll) (yaw does
    not change what gravity reads); gravity reads R^T·(0, 0, 1) g = (−sin p, cos p·sin r, cos p·cos r) in
    the device frame. Roll and pitch drift linearly during the window, each by U(−3°, 3°) in total.
 2. Gesture axes: the gesture's nominal device-frame directions are rotated by a misalignment of
    U(−15°, 15°) about each device axis (people do not move along exact axes).
 3. Motion (device frame, before misalignment; t in s from the window start, gestures start at
    t0 ~ U(0, 1.28 − D) so that they lie inside the window):
    - idle: nothing; with probability 1/2 a fidget: a(t) = A·sin(2π(t − t0)/D)·u over t0..t0 + D, along a
      random unit vector u, A ~ U(0.03, 0.12) g, D ~ U(0.6, 1.2) s.
    - shake: a(t) = A·sin(2π f (t − t0) + φ)·sin²(π(t − t0)/D)·x̂ over t0..t0 + D (a Hann envelope),
      f ~ U(3, 6) Hz, A ~ U(0.4, 1.6) g, D ~ U(0.6, 1.2) s, φ ~ U(0, 2π).
    - circle: a(t) = A·(cos θ, s·sin θ, 0)·w(t), θ = 2π f (t − t0) + φ, f ~ U(0.8, 1.6) Hz,
      A ~ U(0.25, 0.9) g, s = ±1 (direction), D ~ U(0.9, 1.28) s, φ ~ U(0, 2π), w a Tukey window
      (cosine tapers of 0.1 s at both ends).
    - swipe_left: a(t) = −A·sin(2π(t − t0)/D)·x̂ over t0..t0 + D, A ~ U(0.5, 1.5) g, D ~ U(0.25, 0.6) s.
    - tap: a(t) = −A·exp(−(t − t0)/τ)·cos(2π f_r (t − t0))·ẑ for t ≥ t0, A ~ U(1.0, 2.5) g,
      τ ~ U(0.03, 0.08) s, f_r ~ U(6, 12) Hz; t0 ~ U(0, 1.08) s (as for D = 0.2 s).
 4. Tremor (all classes): Normal(0, 1) white noise at 400 Hz on each axis, smoothed by a moving
    average of 40 sub-samples (0.1 s), then scaled so that its rms over the window (all 3 axes) is
    U(0.005, 0.03) g.
 5. Sensor: a zero-g offset per axis ~ U(−0.03, 0.03) g, white noise Normal(0, 0.02) g per output
    sample and axis, then rounding to 1/1024 g and clipping to [−2, 2 − 1/1024] g.

    .venv/bin/python scripts/data/gestures.py [--out FILE]
"""
from __future__ import annotations

import numpy as np
from _common import output_path, write_npz

SEED = 25
LABELS = ("idle", "shake", "circle", "swipe_left", "tap")
PER_CLASS = 500
RATE = 25.0        # Hz, output data rate
T = 32             # samples per window (1.28 s)
OVERSAMPLE = 16    # sub-samples averaged into one output sample
LSB = 1 / 1024     # g per count
FULL_SCALE = 2.0   # g
NOISE = 0.02       # g rms, white, per output sample
OFFSET = 0.03      # g, zero-g offset drawn from U(-OFFSET, OFFSET) per axis
TILT = 40.0        # degrees, roll and pitch drawn from U(-TILT, TILT)
DRIFT = 3.0        # degrees, roll and pitch drift during the window
MISALIGN = 15.0    # degrees, gesture axes rotated by U(-MISALIGN, MISALIGN) about each axis
WINDOW = T / RATE  # s


def rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Rz(yaw)·Ry(pitch)·Rx(roll): rotations about x, then y, then z, angles in radians."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def start(rng: np.random.Generator, duration: float) -> float:
    return float(rng.uniform(0.0, WINDOW - duration))


def motion(rng: np.random.Generator, label: str, t: np.ndarray) -> np.ndarray:
    """The gesture's acceleration (len(t), 3) in g, in nominal device axes (before misalignment)."""
    a = np.zeros((len(t), 3))
    if label == "idle":
        if rng.uniform() < 0.5:
            amp, dur = rng.uniform(0.03, 0.12), rng.uniform(0.6, 1.2)
            t0 = start(rng, dur)
            u = rng.normal(size=3)
            u /= np.linalg.norm(u)
            inside = (t >= t0) & (t < t0 + dur)
            a[inside] = amp * np.sin(2 * np.pi * (t[inside] - t0) / dur)[:, None] * u
    elif label == "shake":
        freq, amp = rng.uniform(3, 6), rng.uniform(0.4, 1.6)
        dur, phase = rng.uniform(0.6, 1.2), rng.uniform(0, 2 * np.pi)
        t0 = start(rng, dur)
        inside = (t >= t0) & (t < t0 + dur)
        s = t[inside] - t0
        a[inside, 0] = amp * np.sin(2 * np.pi * freq * s + phase) * np.sin(np.pi * s / dur) ** 2
    elif label == "circle":
        freq, amp, direction = rng.uniform(0.8, 1.6), rng.uniform(0.25, 0.9), rng.choice([-1.0, 1.0])
        dur, phase = rng.uniform(0.9, WINDOW), rng.uniform(0, 2 * np.pi)
        t0 = start(rng, dur)
        inside = (t >= t0) & (t < t0 + dur)
        s = t[inside] - t0
        taper = np.clip(np.minimum(s, dur - s) / 0.1, 0, 1)
        envelope = 0.5 - 0.5 * np.cos(np.pi * taper)
        theta = 2 * np.pi * freq * s + phase
        a[inside, 0] = amp * np.cos(theta) * envelope
        a[inside, 1] = amp * direction * np.sin(theta) * envelope
    elif label == "swipe_left":
        amp, dur = rng.uniform(0.5, 1.5), rng.uniform(0.25, 0.6)
        t0 = start(rng, dur)
        inside = (t >= t0) & (t < t0 + dur)
        a[inside, 0] = -amp * np.sin(2 * np.pi * (t[inside] - t0) / dur)
    elif label == "tap":
        amp, tau, ring = rng.uniform(1.0, 2.5), rng.uniform(0.03, 0.08), rng.uniform(6, 12)
        t0 = start(rng, 0.2)
        after = t >= t0
        s = t[after] - t0
        a[after, 2] = -amp * np.exp(-s / tau) * np.cos(2 * np.pi * ring * s)
    else:
        raise ValueError(f"unknown gesture {label!r}")
    return a


def window(rng: np.random.Generator, label: str) -> np.ndarray:
    """One window (T, 3) in g, on the sensor's 1/1024 g grid."""
    n = T * OVERSAMPLE
    t = np.arange(n) / (RATE * OVERSAMPLE)
    roll0, pitch0 = np.radians(rng.uniform(-TILT, TILT, 2))
    d_roll, d_pitch = np.radians(rng.uniform(-DRIFT, DRIFT, 2))
    misalign = rotation(*np.radians(rng.uniform(-MISALIGN, MISALIGN, 3)))
    a = motion(rng, label, t) @ misalign.T
    roll, pitch = roll0 + d_roll * t / WINDOW, pitch0 + d_pitch * t / WINDOW
    # gravity in the device frame: R^T·(0, 0, 1) = the last row of R = rotation(roll, pitch, 0)[2]
    a += np.stack([-np.sin(pitch), np.cos(pitch) * np.sin(roll), np.cos(pitch) * np.cos(roll)], axis=1)
    tremor = rng.normal(size=(n + 39, 3))
    kernel = np.ones(40) / 40
    tremor = np.stack([np.convolve(tremor[:, k], kernel, mode="valid") for k in range(3)], axis=1)
    tremor *= rng.uniform(0.005, 0.03) / np.sqrt(np.mean(tremor**2))
    a += tremor
    x = a.reshape(T, OVERSAMPLE, 3).mean(axis=1)
    x += rng.uniform(-OFFSET, OFFSET, 3) + rng.normal(0.0, NOISE, (T, 3))
    return np.clip(np.round(x / LSB) * LSB, -FULL_SCALE, FULL_SCALE - LSB)


def generate(per_class: int = PER_CLASS, seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(LABELS), dtype=np.int64), per_class))
    x = np.stack([window(rng, LABELS[c]) for c in y]).astype(np.float32)
    return {"x": x, "y": y, "labels": np.array(LABELS), "features": np.array(["ax", "ay", "az"])}


def main(argv: list[str] | None = None) -> None:
    out = output_path(__doc__, "gestures.npz", argv)
    write_npz(out, generate())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
