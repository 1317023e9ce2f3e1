"""Synthetic NMO-corrected CMP gathers with known amplitude versus offset (AVO), and the AVO
measurement that checks a denoiser keeps it.

Each event is flat across offset (NMO-corrected) and dips gently from gather to gather; its
amplitude at offset x follows the two-term Shuey form ``A + B sin²θ``, with sin²θ growing as
(x / x_max)² up to :data:`MAX_SIN2`. Events sit on whole samples and far enough apart that the
amplitude at an event's time in a gather is its AVO value, so the truth is known exactly.
Written as SEG-Y with the CMP number at byte 21 and the offset at byte 37 (the defaults of
``convert``), inline/crossline at 189/193 for 3D gathers (0 for a 2D line), and CMP coordinates.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from .segy_format import SAMPLE_FORMATS, TH_OFFSET, encode
from .segy_writer import file_header, put, records, trace_headers
from .synthetic import ricker

MAX_SIN2 = 0.3  # sin² of the largest incidence angle (about 33°)


@dataclass(frozen=True)
class GatherSpec:
    """Size and character of a synthetic gather survey: ``n_inline`` × ``n_cdp`` gathers (one
    inline: a 2D line of CMPs) of ``n_offsets`` traces."""

    n_cdp: int = 24
    n_offsets: int = 32
    n_samples: int = 256
    n_inline: int = 1
    dt_ms: float = 4.0
    offset_step: int = 100  # m; offsets from one step to n_offsets steps
    peak_hz: float = 25.0
    seed: int = 0

    @property
    def offsets(self) -> np.ndarray:
        return self.offset_step * np.arange(1, self.n_offsets + 1, dtype=np.int64)


def events(spec: GatherSpec) -> dict[str, np.ndarray]:
    """The events: time in samples at the first gather (whole samples, 20 apart), dip in samples
    per gather, intercept ``A`` and gradient ``B`` (|B| at least 0.4 |A|, so every gradient is
    measurable)."""
    rng = np.random.default_rng(spec.seed)
    t0 = np.arange(24, spec.n_samples - 24, 20)
    a = rng.choice([-1.0, 1.0], len(t0)) * rng.uniform(0.4, 1.0, len(t0))
    b = rng.choice([-1.0, 1.0], len(t0)) * rng.uniform(0.4, 2.0, len(t0)) * np.abs(a)
    dip = rng.choice([-1, 0, 1], len(t0)) * (rng.random(len(t0)) < 0.5)
    return {"t0": t0, "dip_every": np.where(dip == 0, 0, rng.integers(3, 6, len(t0))), "dip": dip, "A": a, "B": b}


def sin2(spec: GatherSpec) -> np.ndarray:
    """sin²θ at each offset."""
    x = spec.offsets / spec.offsets[-1]
    return MAX_SIN2 * x**2


def event_times(spec: GatherSpec, ev: dict[str, np.ndarray], cdp: np.ndarray) -> np.ndarray:
    """(n gathers, n events) sample index of each event in each gather (a dip of one sample every
    ``dip_every`` gathers, kept on whole samples)."""
    steps = np.where(ev["dip_every"] > 0, cdp[:, None] // np.maximum(ev["dip_every"], 1), 0)
    return np.clip(ev["t0"] + ev["dip"] * steps, 4, spec.n_samples - 5).astype(np.int64)


def truth_amplitudes(spec: GatherSpec, ev: dict[str, np.ndarray]) -> np.ndarray:
    """(n events, n offsets) amplitude of each event at each offset: A + B sin²θ."""
    return ev["A"][:, None] + ev["B"][:, None] * sin2(spec)[None, :]


def clean_gathers(spec: GatherSpec, cdp: np.ndarray) -> np.ndarray:
    """Noise-free gathers (len(cdp), n_offsets, n_samples) at the gathers' indices ``cdp``."""
    ev = events(spec)
    times = event_times(spec, ev, np.asarray(cdp))
    amp = truth_amplitudes(spec, ev)
    nfft = 1 << int(np.ceil(np.log2(spec.n_samples + 64)))
    refl = np.zeros((len(cdp), spec.n_offsets, nfft))
    for k in range(len(ev["t0"])):
        refl[np.arange(len(cdp))[:, None], np.arange(spec.n_offsets)[None, :], times[:, k : k + 1]] += amp[k][None, :]
    wav = np.fft.rfft(ricker(spec.peak_hz, spec.dt_ms / 1000, nfft))
    return np.fft.irfft(np.fft.rfft(refl, axis=-1) * wav, n=nfft, axis=-1)[..., : spec.n_samples].astype(np.float32)


def write_segy(path: str | os.PathLike, spec: GatherSpec = GatherSpec(), *, snr_db: float | None = None,
               fmt: int = 5, endian: str = "big", missing: float = 0.0) -> dict:
    """Write the gathers as SEG-Y, gather after gather, offsets increasing; white Gaussian noise at
    ``snr_db`` against the clean gathers' RMS; ``missing`` leaves that fraction of the traces out
    at random (varying fold). Returns its description (noise std, trace count)."""
    if fmt not in SAMPLE_FORMATS:
        raise ValueError(f"unsupported SEG-Y sample format {fmt}")
    n_g = spec.n_inline * spec.n_cdp
    data = clean_gathers(spec, np.arange(n_g) % spec.n_cdp)
    sigma = float(np.sqrt(np.mean(data.astype(np.float64) ** 2))) * 10 ** (-snr_db / 20) if snr_db is not None else 0.0
    if sigma:
        data += np.random.default_rng([spec.seed, 1]).normal(0, sigma, data.shape).astype(np.float32)
    g = np.repeat(np.arange(n_g), spec.n_offsets)
    keep = np.random.default_rng([spec.seed, 2]).random(len(g)) >= missing
    keep[0] = True
    il, xl = g // spec.n_cdp, g % spec.n_cdp
    three_d = spec.n_inline > 1
    lines = {"inline": (1000 + il) * three_d, "crossline": (2000 + xl) * three_d, "cdp": 1 + g}
    dt_us = int(round(spec.dt_ms * 1000))
    xy = (1000.0 + 12.5 * xl, 2000.0 + 25.0 * il)  # CMP coordinates in m
    hdr = trace_headers(np.arange(len(g)), lines, spec.n_samples, dt_us, 0, endian, xy)
    put(hdr, TH_OFFSET, np.tile(spec.offsets, n_g), 4, endian)
    hdr, samples = hdr[keep], data.reshape(len(g), -1)[keep]
    put(hdr, 1, np.arange(1, len(hdr) + 1), 4, endian)  # trace sequence numbers of the traces written
    put(hdr, 5, np.arange(1, len(hdr) + 1), 4, endian)
    text, binary = file_header(spec.n_samples, dt_us, f"SYNTHETIC NMO-CORRECTED CMP GATHERS SEED {spec.seed}", fmt, endian)
    path = os.fspath(path)
    partial = path + ".partial"
    with open(partial, "wb") as fh:
        fh.write(text + binary)
        fh.write(records(hdr, encode(samples, fmt, endian)).tobytes())
    os.replace(partial, path)
    return {"path": path, "traces": int(keep.sum()), "gathers": n_g, "noise_std": sigma, "spec": asdict(spec)}


def avo(gathers: np.ndarray, spec: GatherSpec) -> dict[str, float]:
    """How well ``gathers`` (n_inline·n_cdp, n_offsets, n_samples, in the written order) keep the
    truth's AVO: each event's amplitude picked at its time in every gather and offset, averaged
    over gathers, against A + B sin²θ: the correlation of all picked amplitudes with the truth, and
    each event's fitted gradient against its B (the largest and the median relative error)."""
    ev = events(spec)
    n_g = gathers.shape[0]
    cdp = np.arange(n_g) % spec.n_cdp
    times = event_times(spec, ev, cdp)
    picked = np.take_along_axis(gathers, np.broadcast_to(times[:, None, :], (n_g, spec.n_offsets, times.shape[1])),
                                axis=-1)  # (gather, offset, event)
    mean = picked.mean(axis=0).T  # (event, offset)
    truth = truth_amplitudes(spec, ev)
    design = np.stack([np.ones(spec.n_offsets), sin2(spec)], axis=1)
    fit = np.linalg.lstsq(design, mean.T, rcond=None)[0]  # (2, event)
    err = np.abs(fit[1] - ev["B"]) / np.abs(ev["B"])
    return {"correlation": float(np.corrcoef(mean.ravel(), truth.ravel())[0, 1]),
            "gradient_error_max": float(err.max()), "gradient_error_median": float(np.median(err)),
            "events": int(len(ev["B"]))}
