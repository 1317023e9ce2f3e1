"""Survey-level amplitude statistics that workers compute per block and the client merges.

The denoiser scales every tile by the same survey statistics, so they are gathered once, at
conversion, over live samples only. A histogram of log10|amplitude| gives robust percentiles.
"""

from __future__ import annotations

import numpy as np

_LOG_LO, _LOG_HI, BINS = -12.0, 12.0, 2400  # 0.01 decade bins over |a| in [1e-12, 1e12]


def block_stats(values: np.ndarray) -> dict:
    """Partial statistics of a block of live samples (any shape)."""
    v = values.ravel()
    n_nonfinite = 0
    total, sumsq, zeros, lo, hi, sub = _moments(v)
    if not np.isfinite(sumsq):  # rare; a float64 sum of float32 squares cannot overflow, so only NaN/inf do this
        finite = np.isfinite(v)
        n_nonfinite = int(v.size - finite.sum())
        v = v[finite]
        total, sumsq, zeros, lo, hi, sub = _moments(v)
    step = _step(v.size)
    sub = np.abs(sub.astype(np.float64))
    nz = sub[sub > 0]
    hist = step * np.bincount(
        np.clip(((np.log10(nz) - _LOG_LO) * (BINS / (_LOG_HI - _LOG_LO))).astype(np.int64), 0, BINS - 1),
        minlength=BINS,
    )
    return {
        "count": int(v.size),
        "zeros": zeros,
        "nonfinite": n_nonfinite,
        "sum": total,
        "sumsq": sumsq,
        "min": lo,
        "max": hi,
        "hist": hist,
    }


_SLICE = 1 << 18  # samples per slice (1 MiB of float32): every pass over a slice runs in cache
_ROW = 4096  # float32 squares are added in rows this long (pairwise), the rows in float64


def _step(size: int) -> int:
    """Stride of the subsample that the percentiles come from (log10 is costly): ~65536 values."""
    return max(1, size // 65536)


def _moments(v: np.ndarray) -> tuple[float, float, int, float | None, float | None, np.ndarray]:
    """Sum, sum of squares, zero count, min, max and the percentiles' subsample (``v[::_step]``)
    of a 1-D array, all taken slice by slice so that a block is read from memory once, not once
    per statistic.

    The sum is float64. The squares are float32, added pairwise in rows of 4096 and the rows in
    float64: ~1e-7 relative, 3x faster than squaring in float64. Where that is not exact enough
    for the variance (|mean| not small against the rms, so that mean² cancels most of sumsq/n;
    never in seismic data) or overflows float32, the squares are redone in float64 (exact)."""
    total = sumsq = 0.0
    zeros = 0
    lo = hi = None
    fast = v.dtype == np.float32
    step, subs = _step(v.size), []
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(0, v.size, _SLICE):
            s = v[i : i + _SLICE]
            subs.append(s[-i % step :: step])  # the slice's part of v[::step]
            total += float(s.sum(dtype=np.float64))
            zeros += int(np.count_nonzero(s == 0))  # 4x faster than count_nonzero(s) on floats
            a, b = s.min(), s.max()
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
            if fast:
                sq = np.square(s)
                n = s.size - s.size % _ROW
                sumsq += float(sq[:n].reshape(-1, _ROW).sum(axis=-1).sum(dtype=np.float64) + sq[n:].sum(dtype=np.float64))
    lo, hi = (None, None) if lo is None else (float(lo), float(hi))
    sub = np.concatenate(subs) if subs else v[:0]
    if fast and np.isfinite(sumsq) and v.size and (total / v.size) ** 2 <= 1e-3 * sumsq / v.size:
        return total, sumsq, zeros, lo, hi, sub
    sumsq = 0.0
    for i in range(0, v.size, _SLICE):  # float64 over cache-sized slices (no full-size copy)
        s = v[i : i + _SLICE].astype(np.float64)
        sumsq += float(np.dot(s, s))
    return total, sumsq, zeros, lo, hi, sub


def combine(parts: list[dict]) -> dict:
    """Partial statistics of several pieces as those of one block (for blocks read in pieces)."""
    mins = [p["min"] for p in parts if p["min"] is not None]
    maxs = [p["max"] for p in parts if p["max"] is not None]
    out = {k: sum(p[k] for p in parts) for k in ("count", "zeros", "nonfinite", "sum", "sumsq")}
    out.update(min=min(mins) if mins else None, max=max(maxs) if maxs else None,
               hist=np.sum([p["hist"] for p in parts], axis=0))
    return out


def merge(parts: list[dict], hist: np.ndarray | None = None) -> dict:
    """Combine partial statistics into survey statistics (JSON-ready). ``hist``: the parts'
    histograms already added up (then the parts need not carry them)."""
    n = sum(p["count"] for p in parts)
    mins = [p["min"] for p in parts if p["min"] is not None]
    maxs = [p["max"] for p in parts if p["max"] is not None]
    if hist is None:
        hist = np.sum([p["hist"] for p in parts], axis=0) if parts else np.zeros(BINS, np.int64)
    total = float(sum(p["sum"] for p in parts))
    sumsq = float(sum(p["sumsq"] for p in parts))
    mean = total / n if n else 0.0
    var = max(sumsq / n - mean * mean, 0.0) if n else 0.0
    zeros = sum(p["zeros"] for p in parts)
    return {
        "count": n,
        "zeros": zeros,
        "nonfinite": sum(p["nonfinite"] for p in parts),
        "min": min(mins) if mins else 0.0,
        "max": max(maxs) if maxs else 0.0,
        "mean": mean,
        "std": float(np.sqrt(var)),
        "rms": float(np.sqrt(sumsq / n)) if n else 0.0,
        "abs_p50": _abs_percentile(hist, zeros, 50),
        "abs_p99": _abs_percentile(hist, zeros, 99),
        "abs_p999": _abs_percentile(hist, zeros, 99.9),
    }


def _abs_percentile(hist: np.ndarray, zeros: int, q: float) -> float:
    """Percentile of |amplitude| from the log histogram (bin centre, within 1.2%)."""
    total = int(hist.sum()) + zeros
    if total == 0:
        return 0.0
    rank = q / 100 * total
    if rank <= zeros:
        return 0.0
    idx = int(np.searchsorted(np.cumsum(hist), rank - zeros))
    width = (_LOG_HI - _LOG_LO) / BINS
    return float(10 ** (_LOG_LO + (min(idx, BINS - 1) + 0.5) * width))


_SCALARS = ("count", "zeros", "nonfinite", "sum", "sumsq", "min", "max", "raw_traces")
ROW_LENGTH = len(_SCALARS) + BINS


def to_row(part: dict) -> np.ndarray:
    """A block's partial statistics as one float64 row (so a store can keep them for a resume)."""
    row = np.empty(ROW_LENGTH)
    row[: len(_SCALARS)] = [np.nan if part.get(k) is None else part.get(k, 0) for k in _SCALARS]
    row[len(_SCALARS):] = part["hist"]
    return row


def from_row(row: np.ndarray) -> dict:
    part: dict = {k: float(v) for k, v in zip(_SCALARS, row[: len(_SCALARS)])}
    for k in ("count", "zeros", "nonfinite", "raw_traces"):
        part[k] = int(part[k])
    for k in ("min", "max"):
        part[k] = None if np.isnan(part[k]) else part[k]
    part["hist"] = row[len(_SCALARS):].astype(np.int64)
    return part


TARGET_P99 = 1.0  # |amplitude| percentile 99 after scaling: the scale the model is trained at


def scale_factor(survey: dict) -> float:
    """Multiplier that brings a survey to the model's amplitude scale.

    One number per survey (from the statistics gathered at conversion), never per tile, so tiles
    are scaled alike and no seams appear; make-dataset and denoise both use it.
    """
    p99 = float(survey.get("abs_p99") or 0.0)
    if not np.isfinite(p99) or p99 <= 0:
        rms = float(survey.get("rms") or 0.0)
        return 1.0 / rms if rms > 0 and np.isfinite(rms) else 1.0
    return TARGET_P99 / p99


def not_seismic(s: dict | None) -> str | None:
    """Why amplitude statistics ``s`` look like a property volume (velocity, impedance, density)
    rather than seismic, whose mean is near zero; None when they do not. The DnCNN learned
    zero-mean reflectivity: on a velocity model it would "remove" geology as noise."""
    if not s or not s.get("count"):
        return None
    mean, std = float(s.get("mean", 0.0)), float(s.get("std", 0.0))
    if abs(mean) <= 0.5 * std or mean == 0.0:
        return None
    return (f"the amplitudes' mean ({mean:.4g}) is far from zero against their spread (std {std:.4g}): this looks "
            "like a property volume (velocity, impedance), not seismic, which the model was trained on")
