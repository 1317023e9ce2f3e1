"""Augmentation of clean training sections: what field data vary in and a few real surveys do not.

A model trained on a handful of surveys sees a handful of sampling intervals, bandwidths, dips and
polarities. Each region of a real survey is therefore cut into patches again and again, each time
changed at random in the ways surveys differ (pure NumPy, seeded, no model):

- sampling interval: resampled along time so that it looks sampled at 1-8 ms (Fourier
  resampling: truncating the spectrum is the ideal anti-alias filter when decimating);
- frequency band: a spectral tilt that moves the dominant frequency, and sometimes a high cut;
- dip: a shear of the traces against each other (Fourier time shifts, zero-padded, no wrap-around);
- polarity and trace order: flipped with probability one half each;
- amplitude: a gain around the survey scale, as the scale of a noisy survey differs from its
  clean scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentSpec:
    """Ranges of the random changes; ``make-dataset --augment`` uses the defaults."""

    dt_range_ms: tuple[float, float] = (1.0, 8.0)  # apparent sampling interval after resampling
    tilt: float = 0.7  # spectral tilt exponent drawn from [-tilt, tilt] (amplitude x f^a, renormalised)
    highcut_probability: float = 0.3  # chance of a smooth high cut at 40-100% of Nyquist
    max_dip: float = 0.6  # samples per trace of shear, drawn from [-max_dip, max_dip]
    gain: tuple[float, float] = (0.7, 1.4)  # amplitude gain drawn log-uniformly

    def __post_init__(self) -> None:
        lo, hi = self.dt_range_ms
        if not 0 < lo <= hi:
            raise ValueError(f"sampling range {self.dt_range_ms} must be positive and ordered")
        if not 0 < self.gain[0] <= self.gain[1]:
            raise ValueError(f"gain range {self.gain} must be positive and ordered")


def region(sec: np.ndarray, dt_ms: float, rng: np.random.Generator, spec: AugmentSpec = AugmentSpec()) -> np.ndarray:
    """A (trace, sample) region resampled, re-banded and sheared at random (float32)."""
    n_tr, n_s = sec.shape
    target = float(np.exp(rng.uniform(np.log(spec.dt_range_ms[0]), np.log(spec.dt_range_ms[1]))))
    factor = (dt_ms or target) / target  # > 1: more samples (finer sampling)
    n_new = max(8, int(round(n_s * factor)))
    dip = rng.uniform(-spec.max_dip, spec.max_dip)
    shift = dip * (np.arange(n_tr) - (n_tr - 1) / 2)  # samples at the new sampling
    pad = int(np.ceil(np.abs(shift).max())) if n_tr else 0
    n_fft = n_new + 2 * pad
    spec_out = _respectrum(np.asarray(sec, np.float64), n_new, pad)
    f = np.fft.rfftfreq(n_fft) * 2  # fraction of the new Nyquist
    shape = np.ones_like(f)
    a = rng.uniform(-spec.tilt, spec.tilt)
    with np.errstate(divide="ignore"):
        shape[1:] = (f[1:] / 0.25) ** a
    if rng.random() < spec.highcut_probability:
        cut = rng.uniform(0.4, 1.0)
        shape *= 1.0 / (1.0 + (f / cut) ** 8)
    before = np.sum(np.abs(spec_out) ** 2)
    spec_out *= shape
    after = np.sum(np.abs(spec_out) ** 2)
    if after > 0:
        spec_out *= np.sqrt(before / after)  # the same energy: the survey scale still holds
    spec_out *= np.exp(-2j * np.pi * np.fft.rfftfreq(n_fft)[None, :] * shift[:, None])
    out = np.fft.irfft(spec_out, n=n_fft, axis=1)[:, pad : pad + n_new]
    return out.astype(np.float32)


def _respectrum(x: np.ndarray, n_new: int, pad: int) -> np.ndarray:
    """The spectrum of (trace, sample) ``x`` resampled to ``n_new`` samples (Fourier resampling:
    the spectrum truncated or zero-padded, amplitudes kept) and zero-padded by ``pad`` samples at
    both ends, so that time shifts of up to ``pad`` samples do not wrap around."""
    n_s = x.shape[1]
    spec = np.fft.rfft(x, axis=1)
    keep = min(spec.shape[1], n_new // 2 + 1)
    res = np.zeros((x.shape[0], n_new // 2 + 1), np.complex128)
    res[:, :keep] = spec[:, :keep]
    y = np.fft.irfft(res, n=n_new, axis=1) * (n_new / n_s)
    return np.fft.rfft(np.pad(y, ((0, 0), (pad, pad))), axis=1)


def patch(p: np.ndarray, rng: np.random.Generator, spec: AugmentSpec = AugmentSpec()) -> np.ndarray:
    """A patch with polarity and trace order flipped at random, and a random gain."""
    out = p[::-1] if rng.random() < 0.5 else p
    sign = -1.0 if rng.random() < 0.5 else 1.0
    gain = float(np.exp(rng.uniform(np.log(spec.gain[0]), np.log(spec.gain[1]))))
    return np.ascontiguousarray(out * np.float32(sign * gain), dtype=np.float32)
