"""Training data in the layout of the paper's ``noise_dataset.h5``: /X noisy and /Y clean patches,
float32 (N, 64, 64, 1), the last ``n_test`` (1000 by default) held out for testing.

Patches are (trace, sample), as the denoiser tiles a section. Clean patches come from the synthetic
generator or from any seisbatch store (cut with a stride, dead or flat patches skipped); both are
brought to the model's scale by survey-level statistics (``stats.scale_factor``), the same rule the
denoiser applies. Noise is added here, at SNRs measured against the survey's clean RMS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

import h5py
import numpy as np

from . import stats, store, synthetic
from .errors import SeisbatchError

PATCH = 64
N_TEST = 1000
PER_SURVEY = 100  # synthetic patches cut from each generated survey


@dataclass(frozen=True)
class NoiseSpec:
    """Noise added to clean patches: SNR in dB against the clean survey RMS, fixed (low == high)
    or drawn uniformly per patch; ``band`` limits it to a fraction of Nyquist along the sample axis;
    ``clean_fraction`` of the patches get no noise at all (teaches the model to leave signal alone)."""

    snr_low: float = 5.0
    snr_high: float = 5.0
    kind: str = "white"  # white | band
    band: tuple[float, float] = (0.05, 0.5)
    clean_fraction: float = 0.0

    def add(self, clean: np.ndarray, ref_rms: float, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of (n, 64, 64) clean patches."""
        n = len(clean)
        snr = rng.uniform(self.snr_low, self.snr_high, n)
        sigma = ref_rms * 10.0 ** (-snr / 20.0)
        sigma[rng.random(n) < self.clean_fraction] = 0.0
        noise = rng.standard_normal(clean.shape)
        if self.kind == "band":
            spec = np.fft.rfft(noise, axis=-1)
            f = np.fft.rfftfreq(clean.shape[-1]) * 2  # fraction of Nyquist
            spec[..., (f < self.band[0]) | (f > self.band[1])] = 0
            noise = np.fft.irfft(spec, n=clean.shape[-1], axis=-1)
            noise /= noise.std(axis=(1, 2), keepdims=True) + 1e-12
        elif self.kind != "white":
            raise ValueError(f"unknown noise kind {self.kind!r} (white or band)")
        return (clean + sigma[:, None, None] * noise).astype(np.float32)


def parse_snr(text: str) -> tuple[float, float]:
    """'5' -> (5, 5); '0:20' -> (0, 20)."""
    lo, _, hi = text.partition(":")
    a, b = float(lo), float(hi or lo)
    return (min(a, b), max(a, b))


def synthetic_clean(count: int, seed: int) -> Iterator[tuple[np.ndarray, float]]:
    """Clean patches from varied synthetic surveys, in batches with each survey's scaled RMS.

    Each survey has its own frequency content, sampling, structure and faults; patches are cut
    from random inline or crossline sections at random depths.
    """
    made, i = 0, 0
    while made < count:
        rng = np.random.default_rng([seed, i])
        spec = synthetic.SurveySpec(
            n_inline=PATCH, n_crossline=PATCH, n_samples=int(rng.choice([192, 256, 320])),
            dt_ms=float(rng.choice([2.0, 4.0])), peak_hz=float(rng.uniform(12.0, 40.0)),
            n_faults=int(rng.integers(0, 5)), seed=int(rng.integers(2**31)),
        )
        il, xl = np.meshgrid(np.arange(PATCH), np.arange(PATCH), indexing="ij")
        cube = synthetic.clean_traces(spec, il.ravel(), xl.ravel()).reshape(PATCH, PATCH, spec.n_samples)
        part = stats.block_stats(cube)
        scale = stats.scale_factor(stats.merge([part]))
        cube *= scale
        k = min(PER_SURVEY, count - made)
        starts = rng.integers(0, spec.n_samples - PATCH + 1, k)
        lines = rng.integers(0, PATCH, k)
        along_inline = rng.random(k) < 0.5
        out = np.empty((k, PATCH, PATCH), np.float32)
        for j in range(k):
            sec = cube[lines[j]] if along_inline[j] else cube[:, lines[j]]
            out[j] = sec[:, starts[j] : starts[j] + PATCH]
        yield out, float(np.sqrt(np.mean(cube.astype(np.float64) ** 2)))
        made += k
        i += 1


def _regions(shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Read units of a store: inline sections of a 3D store, 256-trace blocks (+overlap) of 2D."""
    if len(shape) == 3:
        return [(slice(i, i + 1), slice(None), slice(None)) for i in range(shape[0])]
    step = 4 * PATCH
    return [(slice(t, min(t + step + PATCH, shape[0])), slice(None)) for t in range(0, max(shape[0] - PATCH, 0) + 1, step)]


def store_clean(path: str, count: int, seed: int, stride: int = 32) -> tuple[Iterator[tuple[np.ndarray, float]], dict]:
    """Clean patches cut from a store's amplitude with a stride, region by region in a seeded
    random order (so the held-out patches, taken last, come from other sections). Patches touching
    a dead trace, or nearly flat (std below 1e-3 of the survey's), are skipped."""
    root = store.open_complete(path)
    m = store.meta(root)
    survey = m.get("stats") or {}
    amp, mask = root["amplitude"], root["trace_mask"]
    if amp.shape[-1] < PATCH or int(np.prod(amp.shape[:-1])) == 0 or (amp.ndim == 3 and amp.shape[1] < PATCH) or (amp.ndim == 2 and amp.shape[0] < PATCH):
        raise SeisbatchError(path, f"survey {amp.shape} is smaller than one {PATCH}x{PATCH} patch")
    scale = stats.scale_factor(survey)
    ref_rms = float(survey.get("rms", 0.0)) * scale
    flat = 1e-3 * float(survey.get("std", 0.0)) * scale
    regions = _regions(amp.shape)
    order = np.random.default_rng(seed).permutation(len(regions))
    cap = max(1, int(np.ceil(2 * count / len(regions))))

    def gen() -> Iterator[tuple[np.ndarray, float]]:
        made = 0
        for r in order:
            if made >= count:
                return
            sl = regions[r]
            sec = np.asarray(amp[sl], dtype=np.float32).reshape(-1, amp.shape[-1]) * scale
            live = np.asarray(mask[sl[:-1]]).reshape(-1)
            rng = np.random.default_rng([seed, int(r)])
            cand = [(t, s) for t in range(0, sec.shape[0] - PATCH + 1, stride) for s in range(0, sec.shape[1] - PATCH + 1, stride)]
            out = []
            for idx in rng.permutation(len(cand)):
                t, s = cand[idx]
                if not live[t : t + PATCH].all():
                    continue
                p = sec[t : t + PATCH, s : s + PATCH]
                if not np.isfinite(p).all() or p.std() <= flat:
                    continue
                out.append(p)
                if len(out) >= min(cap, count - made):
                    break
            if out:
                made += len(out)
                yield np.stack(out), ref_rms

    info = {"store": os.path.abspath(path), "scale": scale, "stride": stride, "survey_stats": {k: survey.get(k) for k in ("rms", "std", "abs_p99")}}
    return gen(), info


def make_dataset(
    out: str,
    count: int = 12800,
    noise: NoiseSpec = NoiseSpec(),
    seed: int = 0,
    source: str | None = None,
    stride: int = 32,
    n_test: int = N_TEST,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write OUT.h5 with /X (noisy) and /Y (clean); returns a summary. ``source`` is a store path,
    or None for synthetic surveys. Written to ``OUT.partial`` and renamed when complete."""
    if count < 1:
        raise SeisbatchError(out, "count must be at least 1")
    store.prepare_output(out, overwrite, inputs=(source,) if source else ())
    if source:
        batches, recipe = store_clean(source, count, seed, stride)
    else:
        batches, recipe = synthetic_clean(count, seed), {"generator": "seisbatch.synthetic", "per_survey": PER_SURVEY}
    rng = np.random.default_rng([seed, 1])
    partial = out + ".partial"
    made = 0
    with h5py.File(partial, "w") as f:
        kw = dict(shape=(0, PATCH, PATCH, 1), maxshape=(None, PATCH, PATCH, 1), chunks=(1, PATCH, PATCH, 1), dtype="float32")
        dx, dy = f.create_dataset("X", **kw), f.create_dataset("Y", **kw)
        for clean, ref_rms in batches:
            noisy = noise.add(clean, ref_rms, rng)
            n = len(clean)
            for d, v in ((dx, noisy), (dy, clean)):
                d.resize(made + n, axis=0)
                d[made : made + n] = v[..., None]
            made += n
            if progress:
                progress(made, count)
        if made == 0:
            raise SeisbatchError(source or out, "no usable patches (all dead, flat or too small)")
        f.attrs["n_test"] = min(n_test, made // 5) if made < 5 * n_test else n_test
        f.attrs["seisbatch"] = json.dumps({
            "source": recipe, "noise": asdict(noise), "seed": seed, "count": made, "requested": count, "patch": PATCH,
            "layout": "X noisy, Y clean; (N, trace, sample, 1); last n_test patches held out",
        })
        n_test_final = int(f.attrs["n_test"])
    os.replace(partial, out)
    return {"path": out, "count": made, "requested": count, "n_test": n_test_final, "source": recipe}
