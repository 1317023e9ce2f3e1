"""Synthetic seismic surveys: layered, dipping, folded and faulted reflectors convolved with a
Ricker wavelet, with optional Gaussian noise at a chosen SNR, written as SEG-Y.

The model is a function of (inline, crossline) position, so any subset of traces can be made
independently: large files are generated in bounded memory, and the clean truth of any noisy file
can be regenerated for QC. Amplitudes peak near +-1, the scale of the paper's training patches.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from .segy_format import SAMPLE_FORMATS, encode
from .segy_writer import file_header, records, trace_headers

BATCH = 4096  # traces per generated batch; fixed so noise is reproducible whatever the memory


@dataclass(frozen=True)
class SurveySpec:
    """Size, sampling and character of a synthetic survey."""

    n_inline: int = 64
    n_crossline: int = 48
    n_samples: int = 256
    dt_ms: float = 4.0
    first_inline: int = 100
    inline_step: int = 1
    first_crossline: int = 300
    crossline_step: int = 1
    peak_hz: float = 25.0
    n_faults: int = 2
    seed: int = 0


def ricker(peak_hz: float, dt_s: float, n: int) -> np.ndarray:
    """Zero-phase Ricker wavelet of length n, centred on sample 0 (wrapped), peak 1."""
    t = (np.arange(n) - n * (np.arange(n) >= n // 2)) * dt_s
    a = (np.pi * peak_hz * t) ** 2
    return (1 - 2 * a) * np.exp(-a)


def _model(spec: SurveySpec) -> dict:
    """Random but seeded horizon and fault parameters."""
    rng = np.random.default_rng(spec.seed)
    k = max(4, spec.n_samples // 10)
    t0 = np.sort(rng.uniform(0.05, 1.0, k)) * spec.n_samples  # in samples
    nx, ny = spec.n_crossline, spec.n_inline
    return {
        "t0": t0,
        "r": rng.choice([-1.0, 1.0], k) * rng.uniform(0.3, 1.0, k),
        "dip_x": rng.normal(0, 0.15, k) * (t0 / spec.n_samples),
        "dip_y": rng.normal(0, 0.10, k) * (t0 / spec.n_samples),
        "fold_amp": 0.04 * spec.n_samples * (t0 / spec.n_samples) ** 0.5,
        "fold_len": (rng.uniform(0.6, 1.4) * max(nx, 8), rng.uniform(0.6, 1.4) * max(ny, 8)),
        "fold_phase": rng.uniform(0, 2 * np.pi, 2),
        "dome": (rng.uniform(0.3, 0.7) * nx, rng.uniform(0.3, 0.7) * ny, 0.25 * max(nx, ny), 0.05 * spec.n_samples),
        "faults": [
            (rng.uniform(0, 2 * np.pi), rng.uniform(-0.15, 0.15), rng.uniform(0.04, 0.1) * spec.n_samples * rng.choice([-1, 1]),
             rng.uniform(-0.3, 0.3))
            for _ in range(spec.n_faults)
        ],
    }


def clean_traces(spec: SurveySpec, il_idx: np.ndarray, xl_idx: np.ndarray, model: dict | None = None) -> np.ndarray:
    """Noise-free traces (n, n_samples) float32 at grid positions (il_idx, xl_idx)."""
    m = model or _model(spec)
    x = np.asarray(xl_idx, dtype=np.float64)[:, None]
    y = np.asarray(il_idx, dtype=np.float64)[:, None]
    ns = spec.n_samples
    (lx, ly), (px, py) = m["fold_len"], m["fold_phase"]
    cx, cy, w, h = m["dome"]
    t = (
        m["t0"][None, :]
        + m["dip_x"] * x
        + m["dip_y"] * y
        + m["fold_amp"] * np.sin(2 * np.pi * x / lx + px) * np.cos(2 * np.pi * y / ly + py)
        - h * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * w * w))
    )
    nx, ny = max(spec.n_crossline, 1), max(spec.n_inline, 1)
    for angle, offset, throw, lean in m["faults"]:
        side = np.cos(angle) * (x / nx - 0.5) + np.sin(angle) * (y / ny - 0.5) - offset - lean * t / ns
        t = t + throw * (side > 0)
    n = len(x)
    nfft = 1 << int(np.ceil(np.log2(ns + 64)))
    refl = np.zeros((n, nfft))
    i0 = np.floor(t).astype(np.int64)
    frac = t - i0
    rows = np.broadcast_to(np.arange(n)[:, None], t.shape)
    for shift, weight in ((0, 1 - frac), (1, frac)):
        idx = i0 + shift
        ok = (idx >= 0) & (idx < ns)
        np.add.at(refl, (rows[ok], idx[ok]), (weight * m["r"][None, :])[ok])
    wav = np.fft.rfft(ricker(spec.peak_hz, spec.dt_ms / 1000, nfft))
    return np.fft.irfft(np.fft.rfft(refl, axis=1) * wav, n=nfft, axis=1)[:, :ns].astype(np.float32)


def noise_std(spec: SurveySpec, snr_db: float) -> float:
    """Noise standard deviation giving ``snr_db`` against the clean survey's RMS (estimated on a
    fixed sparse sample of traces, so it is the same for every batch)."""
    rng = np.random.default_rng(spec.seed + 7919)
    n = min(512, spec.n_inline * spec.n_crossline)
    il = rng.integers(0, spec.n_inline, n)
    xl = rng.integers(0, spec.n_crossline, n)
    rms = float(np.sqrt(np.mean(clean_traces(spec, il, xl).astype(np.float64) ** 2)))
    return rms * 10 ** (-snr_db / 20)


def trace_positions(spec: SurveySpec, sorting: str = "inline", missing: float = 0.0, line: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(il_idx, xl_idx) of every trace in file order; ``missing`` drops that fraction at random;
    ``line`` makes a 2D line along the first inline."""
    if line:
        xl = np.arange(spec.n_crossline)
        return np.zeros_like(xl), xl
    il, xl = np.meshgrid(np.arange(spec.n_inline), np.arange(spec.n_crossline), indexing="ij")
    if sorting == "crossline":
        il, xl = il.T, xl.T
    il, xl = il.ravel(), xl.ravel()
    if missing > 0:
        keep = np.random.default_rng(spec.seed + 1).random(len(il)) >= missing
        keep[0] = True
        il, xl = il[keep], xl[keep]
    return il, xl


def write_segy(
    path: str | os.PathLike,
    spec: SurveySpec = SurveySpec(),
    *,
    fmt: int = 5,
    endian: str = "big",
    snr_db: float | None = None,
    sorting: str = "inline",
    missing: float = 0.0,
    line: bool = False,
    scale: float = 1.0,
) -> dict:
    """Write a synthetic survey as SEG-Y (any sample format and byte order); returns its description.

    ``scale`` multiplies amplitudes (integer formats need a scale that uses their range).
    """
    if fmt not in SAMPLE_FORMATS:
        raise ValueError(f"unsupported SEG-Y sample format {fmt}")
    il_idx, xl_idx = trace_positions(spec, sorting, missing, line)
    model = _model(spec)
    sigma = noise_std(spec, snr_db) if snr_db is not None else 0.0
    dt_us = int(round(spec.dt_ms * 1000))
    text, binary = file_header(spec.n_samples, dt_us, f"SYNTHETIC SURVEY SEED {spec.seed}", fmt, endian)
    path = os.fspath(path)
    partial = path + ".partial"
    with open(partial, "wb") as fh:
        fh.write(text + binary)
        for b, start in enumerate(range(0, len(il_idx), BATCH)):
            il, xl = il_idx[start : start + BATCH], xl_idx[start : start + BATCH]
            data = clean_traces(spec, il, xl, model)
            if sigma:
                data += np.random.default_rng([spec.seed, b]).normal(0, sigma, data.shape).astype(np.float32)
            lines = {"inline": spec.first_inline + il * spec.inline_step,
                     "crossline": spec.first_crossline + xl * spec.crossline_step}
            xy = (1000.0 + 25.0 * xl, 2000.0 + 25.0 * il)
            hdr = trace_headers(np.arange(start, start + len(il)), lines, spec.n_samples, dt_us, 0, endian, xy)
            fh.write(records(hdr, encode(data * scale, fmt, endian)).tobytes())
    os.replace(partial, path)
    return {"path": path, "traces": len(il_idx), "noise_std": sigma, "spec": asdict(spec), "format": fmt, "endian": endian}
