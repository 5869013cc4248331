"""Adam with L2 regularisation, global-norm gradient clipping and a per-step learning-rate schedule."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SCHEDULES = ("cosine", "step", "constant")


def learning_rate(base: float, schedule: str, step: int, total: int, warmup: int = 0) -> float:
    """cosine: base → base/100 over the run; step: ×0.1 at 50% and again at 75%; linear warm-up first."""
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    frac = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "cosine":
        return base * (0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * frac)))
    if schedule == "step":
        return base * (0.1 ** (int(frac >= 0.5) + int(frac >= 0.75)))
    return base


@dataclass
class Adam:
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    l2: float = 0.0  # added to the gradient of weight matrices (not biases)
    clip: float = 0.0  # global gradient-norm limit, 0 = off
    t: int = 0
    m: list[dict[str, np.ndarray]] = field(default_factory=list)
    v: list[dict[str, np.ndarray]] = field(default_factory=list)

    def step(self, params: list[dict[str, np.ndarray]], grads: list[dict[str, np.ndarray]], lr: float) -> None:
        if not self.m:
            self.m = [{k: np.zeros_like(v) for k, v in p.items()} for p in params]
            self.v = [{k: np.zeros_like(v) for k, v in p.items()} for p in params]
        if self.l2:
            grads = [{k: g + self.l2 * p[k] if k != "b" else g for k, g in gd.items()} for p, gd in zip(params, grads)]
        if self.clip:
            norm = math.sqrt(sum(float((g * g).sum()) for gd in grads for g in gd.values()))
            if norm > self.clip:
                grads = [{k: g * (self.clip / norm) for k, g in gd.items()} for gd in grads]
        self.t += 1
        c1, c2 = 1.0 - self.beta1 ** self.t, 1.0 - self.beta2 ** self.t
        for p, gd, m, v in zip(params, grads, self.m, self.v):
            for k, g in gd.items():
                m[k] *= self.beta1
                m[k] += (1.0 - self.beta1) * g
                v[k] *= self.beta2
                v[k] += (1.0 - self.beta2) * g * g
                p[k] -= lr * (m[k] / c1) / (np.sqrt(v[k] / c2) + self.eps)
