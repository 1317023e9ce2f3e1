"""Denoising metrics shared by evaluation and QC (plain NumPy, float64 accumulation)."""

from __future__ import annotations

import numpy as np


class SnrAccumulator:
    """Aggregate SNR over many patches or sections: 10 log10(sum clean^2 / sum (estimate - clean)^2)."""

    def __init__(self) -> None:
        self.signal = 0.0
        self.error = 0.0
        self.count = 0

    def add(self, clean: np.ndarray, estimate: np.ndarray) -> None:
        c = np.asarray(clean, dtype=np.float64)
        e = np.asarray(estimate, dtype=np.float64) - c
        self.signal += float(np.vdot(c, c))
        self.error += float(np.vdot(e, e))
        self.count += c.size

    @property
    def mse(self) -> float:
        return self.error / self.count if self.count else float("nan")

    @property
    def snr_db(self) -> float:
        if self.error == 0:
            return float("inf")
        return 10.0 * np.log10(self.signal / self.error) if self.signal > 0 else float("-inf")


def snr_db(clean: np.ndarray, estimate: np.ndarray) -> float:
    """SNR of ``estimate`` against ``clean`` in dB."""
    acc = SnrAccumulator()
    acc.add(clean, estimate)
    return acc.snr_db
