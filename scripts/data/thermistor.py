"""Write data/thermistor.csv: a SYNTHETIC NTC-thermistor calibration set (regression), numpy only.

The circuit: a 10 kΩ (at 25 °C), Beta 3950 K NTC thermistor from the supply to the ADC pin, a 10 kΩ
fixed resistor from the pin to ground, read by a 10-bit ratiometric ADC (0..1023, reference = the
divider's supply, like the ATtiny85/ATmega328P ADC with Vref = Vcc), and a digital temperature sensor
on the board (1/16 °C resolution, e.g. TMP102-like). The task: predict the true air temperature from
(adc, board_c). The board runs warmer than the air (self-heating), and that warmth leaks into the
thermistor and the fixed resistor, so the thermistor alone reads high by up to about 2.3 °C (1.35 °C
rms): the board sensor is the information needed to correct it.

Columns: adc (integer counts 0..1023), board_c (°C, multiple of 0.0625), true_c (°C, rounded to 0.001).
8000 rows in random order; no row depends on another (any split is a fair held-out set).

Generating model, per row (rng = np.random.default_rng(SEED), SEED = 3950; all draws independent, made
as whole columns of N_ROWS values in this order: T_true, offset, e_adc, e_board):

    T_true   ~ Uniform(-10, 60) °C                               air temperature (the target)
    offset   ~ Uniform(0, 15) K                                  board self-heating, independent of T_true
    T_board  = T_true + offset                                   board temperature
    T_node   = T_true + K_COUPLE·(T_board − T_true)              thermistor temperature, K_COUPLE = 0.15
    R_ntc    = R0·exp(BETA·(1/(T_node + 273.15) − 1/(T0 + 273.15)))   R0 = 10 000 Ω, T0 = 25 °C, BETA = 3950 K
    R_fixed  = R_FIXED·(1 + TCR·(T_board − 25))                  R_FIXED = 10 000 Ω, TCR = 150 ppm/K
    ratio    = R_fixed / (R_fixed + R_ntc)                       divider output / supply
    adc      = clip(floor(1024·ratio + e_adc), 0, 1023)          e_adc ~ Normal(0, 0.5) LSB (datasheet:
                                                                  ADC = Vin·1024/Vref, truncated)
    board_c  = round(16·(T_board + e_board)) / 16                e_board ~ Normal(0, 0.05) K
    true_c   = round(T_true, 3)

Over this range one ADC count is 0.086..0.18 °C of thermistor temperature, so ADC noise and
truncation (sqrt(0.5² + 1/12) ≈ 0.58 LSB rms together), times 1/(1 − K_COUPLE) for the correction,
leave a noise floor of about 0.08 °C rms for the best possible estimator (data/README.md gives the
measured figures; scripts/data/baselines.py measures them).

    .venv/bin/python scripts/data/thermistor.py [--out FILE]
"""
from __future__ import annotations

import numpy as np
from _common import output_path, write_text

SEED = 3950
N_ROWS = 8000
T_MIN, T_MAX = -10.0, 60.0   # °C, true air temperature
OFFSET_MAX = 15.0            # K, board self-heating drawn from Uniform(0, OFFSET_MAX)
K_COUPLE = 0.15              # share of the board-to-air difference that reaches the thermistor
R0, T0, BETA = 10_000.0, 25.0, 3950.0  # NTC: Ω at T0 °C, Beta in K
R_FIXED, TCR = 10_000.0, 150e-6        # fixed resistor: Ω at 25 °C, temperature coefficient per K
ADC_NOISE = 0.5              # LSB rms, Gaussian, added before truncation
BOARD_NOISE = 0.05           # K rms, Gaussian, added before the 1/16 °C quantisation
BOARD_LSB = 1 / 16           # °C per count of the board sensor
KELVIN = 273.15


def divider_ratio(t_true: np.ndarray, t_board: np.ndarray) -> np.ndarray:
    """Noise-free divider output / supply for air temperature t_true and board temperature t_board (°C)."""
    t_node = t_true + K_COUPLE * (t_board - t_true)
    r_ntc = R0 * np.exp(BETA * (1 / (t_node + KELVIN) - 1 / (T0 + KELVIN)))
    r_fixed = R_FIXED * (1 + TCR * (t_board - 25.0))
    return r_fixed / (r_fixed + r_ntc)


def generate(n: int = N_ROWS, seed: int = SEED) -> dict[str, np.ndarray]:
    """The columns: adc int64, board_c float64 (multiples of 1/16), true_c float64 (rounded to 0.001)."""
    rng = np.random.default_rng(seed)
    t_true = rng.uniform(T_MIN, T_MAX, n)
    t_board = t_true + rng.uniform(0.0, OFFSET_MAX, n)
    ratio = divider_ratio(t_true, t_board)
    adc = np.clip(np.floor(1024 * ratio + rng.normal(0.0, ADC_NOISE, n)), 0, 1023).astype(np.int64)
    board_c = np.round((t_board + rng.normal(0.0, BOARD_NOISE, n)) / BOARD_LSB) * BOARD_LSB
    true_c = np.round(t_true, 3) + 0.0  # + 0.0: no "-0.000"
    return {"adc": adc, "board_c": board_c + 0.0, "true_c": true_c}


def rows(columns: dict[str, np.ndarray]) -> list[str]:
    lines = ["adc,board_c,true_c"]
    lines += [f"{a:d},{b:.4f},{t:.3f}" for a, b, t in
              zip(columns["adc"].tolist(), columns["board_c"].tolist(), columns["true_c"].tolist())]
    return lines


def main(argv: list[str] | None = None) -> None:
    out = output_path(__doc__, "thermistor.csv", argv)
    write_text(out, rows(generate()))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
