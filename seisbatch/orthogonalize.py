"""Local signal-and-noise orthogonalization (Chen & Fomel 2015, Geophysics 80(6), WD1–WD9): a
denoiser that also takes some signal away leaves it in the removed noise, where it is locally
correlated with the denoised data. The local weight w = <n·d> / <d·d> (``<>``: a box mean over a
small window of traces and samples, in place of the paper's shaping regularization) measures that
share, and d + w·d puts it back. For gathers this keeps amplitude versus offset: a model that
flattens an event's amplitude along the offsets leaves the difference in the removed noise, and
the weight restores it offset by offset. Random noise is not correlated with the signal, so
little of it comes back. Pure NumPy; the same window gives the local similarity that ``qc`` maps.
"""

from __future__ import annotations

import numpy as np

WINDOW = (9, 21)  # traces, samples: the box of the local means


def box_mean(x: np.ndarray, window: tuple[int, int] = WINDOW) -> np.ndarray:
    """Mean of ``x`` (…, traces, samples) over a centred box of ``window``, cut at the edges (the
    mean of the part inside)."""
    out = np.asarray(x, dtype=np.float64)
    for axis, w in zip((-2, -1), window):
        n, h = out.shape[axis], w // 2
        c = np.cumsum(np.moveaxis(out, axis, -1), axis=-1)
        c = np.concatenate([np.zeros(c.shape[:-1] + (1,)), c], axis=-1)
        hi, lo = np.minimum(np.arange(n) + h + 1, n), np.maximum(np.arange(n) - h, 0)
        out = np.moveaxis((c[..., hi] - c[..., lo]) / (hi - lo), -1, axis)
    return out


def weight(noisy: np.ndarray, denoised: np.ndarray, window: tuple[int, int] = WINDOW,
           eps: float = 1e-3) -> np.ndarray:
    """The local share w of the denoised signal left in the removed noise (``noisy - denoised``);
    ``eps`` (relative to the mean signal power) keeps it finite where there is no signal."""
    d = np.asarray(denoised, dtype=np.float64)
    num = box_mean((np.asarray(noisy, dtype=np.float64) - d) * d, window)
    den = box_mean(d * d, window)
    return num / (den + eps * max(float(den.mean()), np.finfo(np.float64).tiny))


def restore(noisy: np.ndarray, denoised: np.ndarray, window: tuple[int, int] = WINDOW) -> np.ndarray:
    """The denoised sections (…, traces, samples) with the signal they lost put back: d + w·d."""
    d = np.asarray(denoised, dtype=np.float64)
    return (d + weight(noisy, d, window) * d).astype(np.float32)


def local_similarity(a: np.ndarray, b: np.ndarray, window: tuple[int, int] = WINDOW) -> np.ndarray:
    """Local normalised correlation of ``a`` and ``b`` in [-1, 1] (0 where either is silent): near 0
    between denoised data and removed noise when nothing leaked, high where signal leaked."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    num = box_mean(a * b, window)
    den = np.sqrt(box_mean(a * a, window) * box_mean(b * b, window))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)
