"""Training patches sampled across a whole store by Dask tasks, never the survey in memory.

``seisbatch adapt`` learns from the survey itself, so its patches must come from everywhere in it:
a seeded plan of 64 x 64 windows (section, first trace, first sample) is drawn from shapes alone
(narrower or shorter where the sections are: the DnCNN is convolutional and learns from any size),
cut into tasks of neighbouring windows, and each task reads only its windows' chunks, drops
windows that touch a dead trace, scales what it keeps by the survey statistics (the denoiser's
rule) and returns it. Sections are those ``denoise`` cuts (``--direction``; each gather of a
pre-stack store). No model here.
"""

from __future__ import annotations

import numpy as np
import zarr
from distributed import Client

from . import engine, stats, store, tiling
from .errors import SeisbatchError

PATCH = 64
MIN_PATCH = (8, 32)  # traces, samples: smaller sections teach the network too little context
PER_TASK = 128


def _axis(shape: tuple[int, ...], direction: str | int) -> int:
    """The sections' trace axis: given, or that of ``direction`` in a post-stack array."""
    if isinstance(direction, int):
        return direction
    return tiling.trace_axis(("inline", "crossline", "sample")[-len(shape):], direction)[0]


def patch_shape(shape: tuple[int, ...], direction: str | int = "inline") -> tuple[int, int]:
    """(traces, samples) of the patches cut from sections of an amplitude of ``shape`` (along
    ``direction``, or trace axis ``direction``): 64 x 64, or the section's own size where it is
    smaller."""
    n_tr = shape[_axis(shape, direction)]
    size = (min(PATCH, n_tr), min(PATCH, shape[-1]))
    if size[0] < MIN_PATCH[0] or size[1] < MIN_PATCH[1]:
        raise ValueError(f"sections of {n_tr} traces x {shape[-1]} samples are too small to learn from "
                         f"(at least {MIN_PATCH[0]} traces x {MIN_PATCH[1]} samples)")
    return size


def _stack(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    return tuple(a for a in range(len(shape) - 1) if a != axis)


def plan(shape: tuple[int, ...], count: int, seed: int, direction: str | int = "inline") -> np.ndarray:
    """(count, 3) windows: section index (flat over the stacking axes; 0 for 2D), first trace,
    first sample, sorted so that a task's windows lie close together in the store."""
    axis = _axis(shape, direction)
    n_sec = int(np.prod([shape[a] for a in _stack(shape, axis)]))
    n_tr = shape[axis]
    pt, ps = patch_shape(shape, axis)
    rng = np.random.default_rng(seed)
    w = np.stack([rng.integers(0, n_sec, count), rng.integers(0, n_tr - pt + 1, count),
                  rng.integers(0, shape[-1] - ps + 1, count)], axis=1)
    return w[np.lexsort((w[:, 2], w[:, 1], w[:, 0]))]


def _read(path: str, windows: np.ndarray, axis: int, scale: float) -> np.ndarray:
    """Task: the scaled patches of ``windows``, (n, trace, sample), in sections along trace
    ``axis``. A window that touches a dead trace moves to the nearest start in its section whose
    traces are all live, and is dropped when the section has none."""
    amp = zarr.open_array(store=path, path="amplitude", mode="r")
    mask = zarr.open_array(store=path, path="trace_mask", mode="r")
    pt, ps = patch_shape(amp.shape, axis)
    stack = _stack(amp.shape, axis)
    out, starts = [], {}
    for sec, t, s in windows:
        where = dict(zip(stack, np.unravel_index(int(sec), tuple(amp.shape[a] for a in stack)) if stack else ()))
        section = tuple(int(where[a]) if a in where else slice(None) for a in range(amp.ndim - 1))
        if int(sec) not in starts:  # the section's trace starts whose pt traces are all live
            live = np.asarray(mask[section], dtype=np.int64)
            runs = np.convolve(live, np.ones(pt, np.int64), mode="valid")
            starts[int(sec)] = np.flatnonzero(runs == pt)
        ok = starts[int(sec)]
        if not len(ok):
            continue
        t = int(ok[np.argmin(np.abs(ok - t))])
        idx = tuple(slice(t, t + pt) if a == axis else section[a] for a in range(amp.ndim - 1)) + (slice(s, s + ps),)
        p = np.asarray(amp[idx], dtype=np.float32) * np.float32(scale)
        if np.isfinite(p).all():
            out.append(p)
    return np.stack(out) if out else np.zeros((0, pt, ps), np.float32)


def sample(path: str, count: int, seed: int, direction: str, client: Client,
           progress: engine.Progress | None = None) -> tuple[np.ndarray, float]:
    """``count`` patches over live traces only (fewer when sections have no window of live traces
    in a row; up to twice as many windows are tried) and the survey scale they were multiplied by."""
    root = store.open_complete(path)
    scale = stats.scale_factor(store.meta(root).get("stats") or {})
    amp = root["amplitude"]
    try:
        axis = tiling.trace_axis(tuple(amp.metadata.dimension_names), direction)[0]  # gathers: each gather
        windows = plan(amp.shape, 2 * count, seed, axis)
    except ValueError as exc:
        raise SeisbatchError(path, str(exc)) from None
    keep = np.random.default_rng([seed, 1]).permutation(len(windows))  # the first `count` tried first
    first, spare = np.sort(keep[:count]), np.sort(keep[count:])
    got = []
    for part in (first, spare):
        if sum(len(g) for g in got) >= count or not len(part):
            break
        chunks = [windows[part[i : i + PER_TASK]] for i in range(0, len(part), PER_TASK)]
        got += [g for g in engine.run_tasks(client, _read, [(path, c, axis, scale) for c in chunks], progress) if len(g)]
    patches = np.concatenate(got)[:count] if got else np.zeros((0, PATCH, PATCH), np.float32)
    if not len(patches):
        raise SeisbatchError(path, "no window of live traces found to learn from (all traces dead?)")
    return patches, scale
