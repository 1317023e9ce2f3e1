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

from . import augment as aug
from . import stats, store, synthetic
from .augment import AugmentSpec
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
    kind: str = "white"  # white | band | mixed (band-limited for ``band_fraction`` of the patches)
    band: tuple[float, float] = (0.05, 0.5)
    clean_fraction: float = 0.0
    band_fraction: float = 0.5  # with kind "mixed"

    def __post_init__(self) -> None:
        if self.kind not in ("white", "band", "mixed"):
            raise ValueError(f"unknown noise kind {self.kind!r} (white, band or mixed)")
        if not (0 <= self.clean_fraction <= 1 and 0 <= self.band_fraction <= 1):
            raise ValueError("clean and band fractions must lie in [0, 1]")
        if not 0 <= self.band[0] < self.band[1] <= 1:
            raise ValueError(f"band {self.band} must satisfy 0 <= low < high <= 1 (of Nyquist)")

    def add(self, clean: np.ndarray, ref_rms: float, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of (n, 64, 64) clean patches."""
        n = len(clean)
        snr = rng.uniform(self.snr_low, self.snr_high, n)
        sigma = ref_rms * 10.0 ** (-snr / 20.0)
        sigma[rng.random(n) < self.clean_fraction] = 0.0
        noise = rng.standard_normal(clean.shape)
        banded = {"white": 0.0, "band": 1.0, "mixed": self.band_fraction}[self.kind]
        pick = rng.random(n) < banded
        if pick.any():
            noise[pick] = band_limited(noise[pick], self.band)
        return (clean + sigma[:, None, None] * noise).astype(np.float32)


def band_limited(noise: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """White noise (..., samples) restricted to ``band`` (fractions of Nyquist) along the last
    axis, rescaled to unit standard deviation per patch: the random noise field data carry after
    acquisition filters."""
    spec = np.fft.rfft(noise, axis=-1)
    f = np.fft.rfftfreq(noise.shape[-1]) * 2  # fraction of Nyquist
    spec[..., (f < band[0]) | (f > band[1])] = 0
    out = np.fft.irfft(spec, n=noise.shape[-1], axis=-1)
    axes = tuple(range(1, out.ndim)) if out.ndim > 1 else None
    return out / (out.std(axis=axes, keepdims=True) + 1e-12)


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


def store_clean(path: str, count: int, seed: int, stride: int = 32,
                augment: AugmentSpec | None = None) -> tuple[Iterator[tuple[np.ndarray, float]], dict]:
    """Clean patches cut from a store's amplitude with a stride, region by region in a seeded
    random order (so the held-out patches, taken last, come from other sections). Patches touching
    a dead trace, or nearly flat (std below 1e-3 of the survey's), are skipped.

    With ``augment``, each region is changed at random (:mod:`seisbatch.augment`) before it is cut,
    and the regions are visited again with new draws until ``count`` patches are made, so that a
    small survey gives many different patches."""
    root = store.open_complete(path)
    m = store.meta(root)
    survey = m.get("stats") or {}
    amp, mask = root["amplitude"], root["trace_mask"]
    if amp.shape[-1] < PATCH or int(np.prod(amp.shape[:-1])) == 0 or (amp.ndim == 3 and amp.shape[1] < PATCH) or (amp.ndim == 2 and amp.shape[0] < PATCH):
        raise SeisbatchError(path, f"survey {amp.shape} is smaller than one {PATCH}x{PATCH} patch")
    scale = stats.scale_factor(survey)
    ref_rms = float(survey.get("rms", 0.0)) * scale
    flat = 1e-3 * float(survey.get("std", 0.0)) * scale
    dt = float(m.get("sample_interval") or 4.0)
    regions = _regions(amp.shape)
    order = np.random.default_rng(seed).permutation(len(regions))
    cap = max(1, int(np.ceil(2 * count / len(regions))))
    passes = 64 if augment else 1

    def gen() -> Iterator[tuple[np.ndarray, float]]:
        made = 0
        for k in range(passes):
            for r in order:
                if made >= count:
                    return
                sl = regions[r]
                sec = np.asarray(amp[sl], dtype=np.float32).reshape(-1, amp.shape[-1]) * scale
                live = np.asarray(mask[sl[:-1]]).reshape(-1)
                rng = np.random.default_rng([seed, int(r), k])
                if augment is not None:
                    sec = sec.copy()
                    sec[~live] = 0.0
                    sec = aug.region(np.nan_to_num(sec), dt, rng, augment)
                cand = [(t, s) for t in range(0, sec.shape[0] - PATCH + 1, stride) for s in range(0, sec.shape[1] - PATCH + 1, stride)]
                out = []
                for idx in rng.permutation(len(cand)):
                    t, s = cand[idx]
                    if not live[t : t + PATCH].all():
                        continue
                    p = sec[t : t + PATCH, s : s + PATCH]
                    if not np.isfinite(p).all() or p.std() <= flat:
                        continue
                    out.append(aug.patch(p, rng, augment) if augment is not None else p)
                    if len(out) >= min(cap, count - made):
                        break
                if out:
                    made += len(out)
                    yield np.stack(out), ref_rms

    info = {"store": os.path.abspath(path), "scale": scale, "stride": stride, "augment": asdict(augment) if augment else None,
            "survey_stats": {k: survey.get(k) for k in ("rms", "std", "abs_p99")}}
    return gen(), info


def _mix(sources: list[tuple[Iterator[tuple[np.ndarray, float]], int]]) -> Iterator[tuple[np.ndarray, float]]:
    """Batches from several generators, taken in turn, each up to its quota of patches."""
    left = [q for _, q in sources]
    its = [it for it, _ in sources]
    while any(q > 0 for q in left):
        for i, it in enumerate(its):
            if left[i] <= 0:
                continue
            try:
                batch, rms = next(it)
            except StopIteration:
                left[i] = 0
                continue
            batch = batch[: left[i]]
            left[i] -= len(batch)
            yield batch, rms


def make_dataset(
    out: str,
    count: int = 12800,
    noise: NoiseSpec = NoiseSpec(),
    seed: int = 0,
    source: str | list[str] | None = None,
    stride: int = 32,
    n_test: int = N_TEST,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    synthetic_fraction: float | None = None,
    augment: AugmentSpec | None = None,
    test_sources: list[str] | None = None,
) -> dict:
    """Write OUT.h5 with /X (noisy) and /Y (clean); returns a summary. Written to ``OUT.partial``
    and renamed when complete.

    ``source``: one store or several, whose patches are mixed in equal shares with
    ``synthetic_fraction`` of synthetic ones (default: none when stores are given, all otherwise).
    ``test_sources``: stores the held-out patches (the last ``n_test``) are cut from, and that no
    training patch comes from: a survey-level split, so held-out figures measure surveys the model
    has not seen."""
    sources = [source] if isinstance(source, str) else list(source or [])
    tests = list(test_sources or [])
    if count < 1:
        raise SeisbatchError(out, "count must be at least 1")
    if set(map(os.path.abspath, sources)) & set(map(os.path.abspath, tests)):
        raise SeisbatchError(out, "a store cannot be both a training source and a held-out (test) source")
    sf = (0.0 if sources else 1.0) if synthetic_fraction is None else float(synthetic_fraction)
    if not 0 <= sf <= 1 or (sf < 1 and not sources):
        raise SeisbatchError(out, f"synthetic fraction {sf} needs 0..1, and stores (--from) for the rest")
    store.prepare_output(out, overwrite, inputs=tuple(sources + tests))
    n_train = count - (min(n_test, count // 5) if count < 5 * n_test else n_test) if tests else count
    n_syn = int(round(n_train * sf))
    quotas = _shares(n_train - n_syn, len(sources))
    parts: list[tuple[Iterator[tuple[np.ndarray, float]], int]] = []
    recipe: dict = {"synthetic_fraction": sf, "stores": [], "test_stores": []}
    if n_syn:
        parts.append((synthetic_clean(n_syn, seed), n_syn))
        recipe["generator"] = "seisbatch.synthetic"
        recipe["per_survey"] = PER_SURVEY
    for i, (src, q) in enumerate(zip(sources, quotas)):
        it, info = store_clean(src, q, seed + 1000 * i, stride, augment)
        parts.append((it, q))
        recipe["stores"].append(dict(info, patches=q))
    test_parts = []
    for i, (src, q) in enumerate(zip(tests, _shares(count - n_train, len(tests)))):
        it, info = store_clean(src, q, seed + 7919 + 1000 * i, stride, None)
        test_parts.append((it, q))
        recipe["test_stores"].append(dict(info, patches=q))
    batches = _chain(_mix(parts), _mix(test_parts))
    if len(sources) == 1 and not tests and not n_syn:  # one store, as before: its summary at the top
        recipe = dict(recipe["stores"][0], synthetic_fraction=0.0)
    elif not sources and not tests:
        recipe = {"generator": "seisbatch.synthetic", "per_survey": PER_SURVEY}
    rng = np.random.default_rng([seed, 1])
    partial = out + ".partial"
    made = n_held = 0
    with h5py.File(partial, "w") as f:
        kw = dict(shape=(0, PATCH, PATCH, 1), maxshape=(None, PATCH, PATCH, 1), chunks=(1, PATCH, PATCH, 1), dtype="float32")
        dx, dy = f.create_dataset("X", **kw), f.create_dataset("Y", **kw)
        for clean, ref_rms, held in batches:
            noisy = noise.add(clean, ref_rms, rng)
            n = len(clean)
            for d, v in ((dx, noisy), (dy, clean)):
                d.resize(made + n, axis=0)
                d[made : made + n] = v[..., None]
            made += n
            n_held += n if held else 0
            if progress:
                progress(made, count)
        if made == 0:
            raise SeisbatchError(sources[0] if sources else out, "no usable patches (all dead, flat or too small)")
        if tests:
            if n_held == 0 or n_held == made:
                raise SeisbatchError(tests[0], "the held-out stores or the training sources gave no usable patches")
            f.attrs["n_test"] = n_held
        else:
            f.attrs["n_test"] = min(n_test, made // 5) if made < 5 * n_test else n_test
        f.attrs["seisbatch"] = json.dumps({
            "source": recipe, "noise": asdict(noise), "seed": seed, "count": made, "requested": count, "patch": PATCH,
            "layout": "X noisy, Y clean; (N, trace, sample, 1); last n_test patches held out",
        })
        n_test_final = int(f.attrs["n_test"])
    os.replace(partial, out)
    return {"path": out, "count": made, "requested": count, "n_test": n_test_final, "source": recipe}


def _shares(total: int, k: int) -> list[int]:
    """``total`` split into ``k`` nearly equal whole parts."""
    return [total // k + (1 if i < total % k else 0) for i in range(k)] if k else []


def _chain(train: Iterator[tuple[np.ndarray, float]], test: Iterator[tuple[np.ndarray, float]]):
    """Training batches, then held-out ones, each flagged."""
    for b, r in train:
        yield b, r, False
    for b, r in test:
        yield b, r, True
