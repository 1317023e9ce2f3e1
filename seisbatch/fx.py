"""f-x deconvolution (Canales 1984): the classical random-noise filter, the baseline to beat.

In a window of a section, each frequency slice of the traces' Fourier transforms is predictable
from trace to trace when events are linear: a complex prediction filter of ``filter_length`` taps is
fitted by damped least squares forward (from the traces before) and backward (from the traces
after), and the average of the two predictions replaces the slice; what cannot be predicted (random
noise) is left out. Sections are cut into overlapping windows in traces and samples so that events
are nearly linear inside each, and the windows' results are blended with raised-cosine tapers
normalised to one, as Madagascar's ``sfxdecon`` does.

Windows lie on a grid fixed by the whole section (``origin``/``extent``), so a block of a section
read with a halo of one window on each side gives exactly the whole-section result over its core:
that is how ``denoise --method fx`` runs it on tiles. Pure NumPy; no model, no Dask.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FxSpec:
    """Settings of f-x deconvolution; every field is a ``denoise --fx-*`` option."""

    filter_length: int = 4  # prediction filter taps (Madagascar sfxdecon's lenf=4)
    window_traces: int = 20  # traces per spatial window
    window_samples: int = 128  # samples per time window (512 ms at 4 ms)
    damping: float = 0.01  # least-squares damping, relative to the mean power of the slice
    fmin: float = 0.0  # band filtered, as fractions of Nyquist; outside it the input is kept
    fmax: float = 1.0

    def __post_init__(self) -> None:
        if self.filter_length < 1:
            raise ValueError(f"f-x filter length must be at least 1, not {self.filter_length}")
        if self.window_traces < 2 * self.filter_length + 1:
            raise ValueError(f"f-x window of {self.window_traces} traces is too short for a filter of "
                             f"{self.filter_length} (at least {2 * self.filter_length + 1})")
        if self.window_samples < 8:
            raise ValueError(f"f-x time window must be at least 8 samples, not {self.window_samples}")
        if not self.damping >= 0:
            raise ValueError(f"f-x damping must not be negative, not {self.damping}")
        if not 0 <= self.fmin < self.fmax <= 1:
            raise ValueError(f"f-x band {self.fmin}..{self.fmax} must satisfy 0 <= fmin < fmax <= 1 (of Nyquist)")

    @property
    def halo(self) -> int:
        """Context a tile needs on every side to equal whole-section f-x: one window."""
        return max(self.window_traces, self.window_samples)


def window_starts(n: int, width: int) -> list[tuple[int, int]]:
    """Windows of ``width`` covering [0, n) with half-window overlap, the last one shifted to end
    at n (never a short window at the edge); one window of n when n <= width."""
    if n <= width:
        return [(0, n)]
    step = max(1, width // 2)
    starts = list(range(0, n - width, step)) + [n - width]
    return [(s, s + width) for s in sorted(set(starts))]


def _ramp(lo: int, hi: int, n: int, width: int) -> np.ndarray:
    """Taper of window [lo, hi) of [0, n): sin² ramps over half a window where it has a
    neighbour, flat at the section's edges; never zero, so every sample has weight."""
    x = np.arange(hi - lo) + 0.5
    w = np.ones(hi - lo)
    r = max(1, width // 2)
    if lo > 0:
        w = np.minimum(w, x / r)
    if hi < n:
        w = np.minimum(w, (hi - lo - x) / r)
    return np.sin(0.5 * np.pi * np.clip(w, 0, 1)) ** 2


def _predict_slices(d: np.ndarray, length: int, damping: float) -> np.ndarray:
    """Forward/backward f-x prediction of (n_freq, n_traces) complex slices."""
    nf, nx = d.shape
    length = min(length, (nx - 1) // 2)
    if length < 1:
        return d.copy()
    rows = nx - length
    # forward: d[j] ~ sum_k a_k d[j-k], j = length..nx-1; backward: d[j] ~ sum_k b_k d[j+k]
    idx = np.arange(rows)[:, None] + np.arange(length)[None, :]
    fwd_a = d[:, idx][:, :, ::-1]  # (nf, rows, length): d[j-1], ..., d[j-length] for j = length + row
    fwd_b = d[:, length:]
    bwd_a = d[:, idx + 1]  # d[j+1], ..., d[j+length] for j = row
    bwd_b = d[:, :rows]
    out = np.zeros_like(d)
    count = np.zeros(nx)
    power = np.mean(np.abs(d) ** 2, axis=1) + 1e-30  # (nf,)
    eye = np.eye(length)
    for a, b, sl in ((fwd_a, fwd_b, slice(length, nx)), (bwd_a, bwd_b, slice(0, rows))):
        ah = np.conj(np.swapaxes(a, 1, 2))
        lhs = ah @ a + (damping * rows * power)[:, None, None] * eye
        coef = np.linalg.solve(lhs, (ah @ b[..., None]))
        out[:, sl] += (a @ coef)[..., 0]
        count[sl] += 1
    return out / count


def fx_decon(section: np.ndarray, spec: FxSpec = FxSpec(), origin: tuple[int, int] = (0, 0),
             extent: tuple[int, int] | None = None) -> np.ndarray:
    """f-x deconvolution of a (trace, sample) section.

    ``section`` may be a part of a larger section of shape ``extent`` starting at ``origin``: the
    windows are those of the larger section, so the result over a part read with one window of
    halo equals the whole section's (windows that reach outside the part are left out, which only
    changes samples within one window of the part's inner edges).
    """
    x = np.asarray(section, dtype=np.float64)
    n_tr, n_s = x.shape
    ext = extent or (n_tr, n_s)
    out = np.zeros_like(x)
    wsum = np.zeros_like(x)
    for t0, t1 in window_starts(ext[0], spec.window_traces):
        a0, a1 = t0 - origin[0], t1 - origin[0]
        if a0 < 0 or a1 > n_tr:
            continue
        wt = _ramp(t0, t1, ext[0], spec.window_traces)
        for s0, s1 in window_starts(ext[1], spec.window_samples):
            b0, b1 = s0 - origin[1], s1 - origin[1]
            if b0 < 0 or b1 > n_s:
                continue
            win = x[a0:a1, b0:b1]
            ws = _ramp(s0, s1, ext[1], spec.window_samples)
            out[a0:a1, b0:b1] += np.outer(wt, ws) * _fx_window(win, spec)
            wsum[a0:a1, b0:b1] += np.outer(wt, ws)
    covered = wsum > 0
    out[covered] /= wsum[covered]
    out[~covered] = x[~covered]
    return out.astype(np.float32)


def _fx_window(win: np.ndarray, spec: FxSpec) -> np.ndarray:
    """One window: FFT along samples, predict each slice in the band, inverse FFT."""
    n_tr, n_s = win.shape
    nfft = 1 << int(np.ceil(np.log2(max(n_s, 2))))
    spec_ = np.fft.rfft(win, n=nfft, axis=1)  # (n_tr, nf)
    f = np.fft.rfftfreq(nfft) * 2  # fraction of Nyquist
    band = (f >= spec.fmin) & (f <= spec.fmax)
    if band.any() and n_tr >= 3:
        spec_[:, band] = _predict_slices(spec_[:, band].T, spec.filter_length, spec.damping).T
    return np.fft.irfft(spec_, n=nfft, axis=1)[:, :n_s]
