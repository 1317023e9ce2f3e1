"""The tile plan of a denoising run, computed from shapes alone (no data is read).

A survey is denoised as 2D sections (trace x sample): inline or crossline sections of a 3D store,
the whole (trace, sample) array of a 2D line, or, for pre-stack gathers, each gather (offset or
channel x sample) or each common-offset section, so that no section holds traces of two gathers,
or of two offsets (:func:`trace_axis`). The section's trace axis is one axis of the array; every
other axis but the samples is a stacking axis. Work is cut in two levels:

- tasks: chunk-aligned blocks of the output (a run of sections along the stacking axes, a range
  of traces when sections are long, and a range of samples when there would otherwise be fewer
  tasks than the cluster can run at once), each read with a halo of traces (and of samples), so
  that tasks write disjoint whole chunks and need nothing from each other;
- tiles: fixed-size windows inside a task's sections, given to the model in batches. Each tile has
  a core (the samples it is responsible for; cores partition the task exactly) and a window (core
  plus halo). Windows never leave the section: at a survey edge they are shifted inwards, so the
  model's own zero padding falls exactly where whole-section inference has it, and crop blending
  with a halo of at least the receptive radius reproduces whole-section inference exactly.

The plan is plain data (``to_dict``/``from_dict``), so it can be stored beside the output and a
rerun can check it is resuming the same plan.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

Range = tuple[int, int]


def windows_1d(lo: int, hi: int, n: int, core: int, halo: int) -> list[tuple[Range, Range]]:
    """(core, window) pairs whose cores partition [lo, hi) and whose windows (core + halo each
    side, all of one length) lie inside [0, n). Cores are balanced: 300 traces with a 256 tile
    become two cores of 150, not 256 + 44, so windows overlap no more than the halo needs."""
    if hi <= lo:
        return []
    k = -(-(hi - lo) // core)
    core = -(-(hi - lo) // k)
    width = min(core + 2 * halo, n)
    out = []
    for a in range(lo, hi, core):
        b = min(a + core, hi)
        start = min(max(a - halo, 0), n - width)
        out.append(((a, b), (start, start + width)))
    return out


DOMAINS = ("gather", "offset")
PRESTACK_DIMS = ("offset", "channel")  # the last trace dim of a gather store


def is_gathers(dims: tuple[str, ...]) -> bool:
    """Whether an array of ``dims`` (sample last) holds pre-stack gathers."""
    return len(dims) >= 3 and dims[-2] in PRESTACK_DIMS


def trace_axis(dims: tuple[str, ...], direction: str = "inline", domain: str | None = None) -> tuple[int, str]:
    """(the sections' trace axis, a label) for an array of ``dims`` (sample last). Post-stack: the
    crosslines of an inline section (``direction`` inline), the inlines of a crossline section, a
    2D line's traces. Gathers (dims ending offset or channel): ``domain`` offset takes the gathers
    at one offset (channel) as a section, along cdp or shot, or along crossline (``direction``
    inline) or inline in a 3D CMP store; gather (the default) takes each gather's offsets: it works
    on a single gather too, and with the lost signal restored it kept amplitude versus offset best
    on synthetic CMP gathers (``benchmarks/avo.py``)."""
    grid = tuple(dims[:-1])
    if is_gathers(dims):
        domain = domain or "gather"
        if domain not in DOMAINS:
            raise ValueError(f"domain must be one of {', '.join(DOMAINS)}, not {domain!r}")
        if domain == "gather":
            return len(grid) - 1, "gather"
        if len(grid) == 3:
            return (1, "offset, inline") if direction == "inline" else (0, "offset, crossline")
        return 0, "offset"
    if domain is not None:
        raise ValueError(f"--domain is for pre-stack gathers; this store's dims are {', '.join(dims)}")
    if len(grid) == 1:
        return 0, "trace"
    if len(grid) != 2:
        raise ValueError(f"cannot cut sections from an array of dims {dims}")
    return (1, "inline") if direction == "inline" else (0, "crossline")


@dataclass(frozen=True)
class Task:
    """A chunk-aligned block: sections ``stack`` (a range along each stacking axis) x core traces
    ``traces`` x core samples ``samples``, read over ``read`` traces and ``read_samples`` samples;
    ``tiles`` are ((core), (window)) pairs in read-region coordinates, each a pair of (trace range,
    sample range)."""

    index: int
    stack: tuple[Range, ...]
    traces: Range
    read: Range
    samples: Range
    read_samples: Range
    tiles: list[tuple[tuple[Range, Range], tuple[Range, Range]]] = field(repr=False)

    @property
    def n_sections(self) -> int:
        return int(np.prod([b - a for a, b in self.stack])) if self.stack else 1


@dataclass(frozen=True)
class Plan:
    """Every task of a run, and the parameters that made it."""

    shape: tuple[int, ...]
    direction: str  # a label of the sections: inline, crossline, trace, gather, offset
    tile: tuple[int, int]
    halo: int
    chunks: tuple[int, ...]
    tasks: list[Task]
    trace_axis: int

    @property
    def stack_axes(self) -> tuple[int, ...]:
        return tuple(a for a in range(len(self.shape) - 1) if a != self.trace_axis)

    def sections(self, block: np.ndarray) -> np.ndarray:
        """A task's block as (section, trace, sample)."""
        lead = self.stack_axes + (self.trace_axis,)
        moved = np.moveaxis(block, lead, tuple(range(len(lead))))
        return moved.reshape((-1,) + moved.shape[-2:])

    def unsections(self, sections: np.ndarray, block_shape: tuple[int, ...]) -> np.ndarray:
        """Inverse of :meth:`sections`, into a block of ``block_shape`` (sample and trace extents
        those of ``sections``)."""
        lead = self.stack_axes + (self.trace_axis,)
        stack_shape = tuple(block_shape[a] for a in self.stack_axes)
        moved = sections.reshape(stack_shape + sections.shape[-2:])
        return np.moveaxis(moved, tuple(range(len(lead))), lead)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        def r(v):
            return tuple(r(x) for x in v) if isinstance(v, list) else v

        tasks = [Task(t["index"], r(t["stack"]), r(t["traces"]), r(t["read"]), r(t["samples"]), r(t["read_samples"]),
                      [r(x) for x in t["tiles"]]) for t in d["tasks"]]
        return cls(tuple(d["shape"]), d["direction"], tuple(d["tile"]), d["halo"], tuple(d["chunks"]), tasks,
                   d["trace_axis"])

    def digest(self) -> str:
        """Identifies the plan; a resumed run must have the same one."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def region(self, task: Task, read: bool = False) -> tuple[slice, ...]:
        """Index of a task's block (core, or with the halo when ``read``) in the survey array."""
        idx = [slice(None)] * len(self.shape)
        idx[self.trace_axis] = slice(*(task.read if read else task.traces))
        idx[-1] = slice(*(task.read_samples if read else task.samples))
        for axis, r in zip(self.stack_axes, task.stack):
            idx[axis] = slice(*r)
        return tuple(idx)


def _pieces(n: int, chunk: int, k: int) -> list[Range]:
    """[0, n) cut at chunk boundaries into at most ``k`` pieces of nearly equal numbers of chunks."""
    n_chunks = -(-n // chunk)
    k = max(1, min(k, n_chunks))
    edges = [min(n, (i * n_chunks // k) * chunk) for i in range(k + 1)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]


def plan(
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    tile: tuple[int, int],
    halo: int,
    direction: str = "inline",
    max_task_samples: int = 1 << 25,
    min_tasks: int = 1,
    axis: int | None = None,
) -> Plan:
    """Plan a run over a survey of ``shape`` (3D: inline, crossline, sample; 2D: trace, sample;
    gathers: their grid, then sample) stored in ``chunks``, cut into sections along trace ``axis``
    (default: that of ``direction`` in a post-stack array, :func:`trace_axis`). ``tile`` is the core size (traces, samples); ``max_task_samples`` bounds a
    task's memory (32 Mi samples = 128 MiB of float32 by default). When the sections give fewer
    than ``min_tasks`` tasks (a 2D line, a small survey: fewer than the cluster's task slots),
    tasks are also cut along samples at chunk boundaries, so that no worker idles; a sample halo
    costs ~2 x halo / sample chunk (7% with 512-sample chunks), less than a trace halo would."""
    if len(shape) < 2 or len(chunks) != len(shape):
        raise ValueError(f"cannot tile an array of shape {shape} with chunks {chunks}")
    if axis is None:
        if direction not in ("inline", "crossline"):
            raise ValueError(f"direction must be inline or crossline, not {direction!r}")
        if len(shape) not in (2, 3):
            raise ValueError(f"give the trace axis of an array of shape {shape}")
        axis, direction = trace_axis(("inline", "crossline", "sample")[-len(shape):], direction)
    if not 0 <= axis < len(shape) - 1:
        raise ValueError(f"trace axis {axis} of an array of shape {shape}")
    if min(tile) < 1 or halo < 0:
        raise ValueError("tile sides must be positive and the halo not negative")
    p = Plan(tuple(shape), direction, tuple(tile), halo, tuple(chunks), [], axis)
    n_traces, n_samples = shape[p.trace_axis], shape[-1]
    t_chunk = chunks[p.trace_axis]
    stacks = list(itertools.product(*[[(a, min(a + chunks[s], shape[s])) for a in range(0, shape[s], chunks[s])]
                                      for s in p.stack_axes]))
    per_stack = int(np.prod([chunks[s] for s in p.stack_axes]))
    # traces per task: whole sections unless that breaks the memory budget, then chunk multiples
    budget = max(t_chunk, (max_task_samples // max(per_stack * n_samples, 1)) // t_chunk * t_chunk)
    trace_ranges = [(a, min(a + budget, n_traces)) for a in range(0, n_traces, budget)] if n_traces else []
    n_blocks = len(stacks) * len(trace_ranges)
    wanted = -(-min_tasks // n_blocks) if 0 < n_blocks < min_tasks else 1
    sample_ranges = _pieces(n_samples, chunks[-1], wanted) if n_samples else [(0, 0)]
    for stack in stacks:
        for t0, t1 in trace_ranges:
            r0, r1 = max(t0 - halo, 0), min(t1 + halo, n_traces)
            along_t = windows_1d(t0 - r0, t1 - r0, r1 - r0, tile[0], halo)
            for s0, s1 in sample_ranges:
                q0, q1 = max(s0 - halo, 0), min(s1 + halo, n_samples)
                along_s = windows_1d(s0 - q0, s1 - q0, q1 - q0, tile[1], halo)
                tiles = [((ct, cs), (wt, ws)) for ct, wt in along_t for cs, ws in along_s]
                p.tasks.append(Task(len(p.tasks), stack, (t0, t1), (r0, r1), (s0, s1), (q0, q1), tiles))
    return p


def within(inner: tuple[slice, ...], outer: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    """Where the region ``inner`` lies inside the block read with ``outer`` (both indexes of an
    array of ``shape``): e.g. a task's core inside its haloed read."""
    out = []
    for i, o, n in zip(inner, outer, shape):
        (i0, i1, _), (o0, _, _) = i.indices(n), o.indices(n)
        out.append(slice(i0 - o0, i1 - o0))
    return tuple(out)


def taper_weights(core: Range, window: Range, lo: int, hi: int, halo: int) -> np.ndarray:
    """1D overlap-add weights of a window: raised-cosine ramps across the 2*halo overlap with each
    neighbour (complementary, so neighbours sum to one; near zero at the window's edge, where the
    model saw least context), flat where the window meets a region edge."""
    x = np.arange(window[0], window[1]) + 0.5
    w = np.ones(len(x))
    if halo > 0:
        if core[0] > lo:
            w = np.minimum(w, np.clip((x - (core[0] - halo / 2)) / halo, 0, 1))
        if core[1] < hi:
            w = np.minimum(w, np.clip(((core[1] + halo / 2) - x) / halo, 0, 1))
    return np.maximum(np.sin(0.5 * np.pi * w) ** 2, 1e-6)  # never exactly zero: every sample stays covered


def denoise_block(block: np.ndarray, plan_: Plan, task: Task, predict, blend: str = "crop", batch_size: int = 8) -> np.ndarray:
    """Denoise one task's read block (its sections with their halo) and return its core.

    ``block`` is the survey array at ``plan_.region(task, read=True)``; ``predict`` maps a
    (n, h, w) float32 batch to its denoised batch. Tiles go to ``predict`` in batches of
    ``batch_size`` windows (all one shape within a task); cores are cropped, or windows are
    overlap-added with ``taper_weights`` when ``blend`` is "taper".
    """
    if blend not in ("crop", "taper"):
        raise ValueError(f"blend must be crop or taper, not {blend!r}")
    sections = plan_.sections(block)
    n_sec, n_read, n_read_s = sections.shape
    c0, c1 = task.traces[0] - task.read[0], task.traces[1] - task.read[0]
    d0, d1 = task.samples[0] - task.read_samples[0], task.samples[1] - task.read_samples[0]
    windows = [(s, tile) for s in range(n_sec) for tile in task.tiles]
    acc = np.zeros((n_sec, n_read, n_read_s), np.float32)
    wsum = np.zeros((n_sec, n_read, n_read_s), np.float32) if blend == "taper" else None
    for b in range(0, len(windows), batch_size):
        group = windows[b : b + batch_size]
        batch = np.stack([sections[s, slice(*w[0]), slice(*w[1])] for s, (_, w) in group]).astype(np.float32)
        out = predict(batch)
        for (s, ((ct, cs), (wt, ws))), y in zip(group, out):
            if blend == "crop":
                acc[s, ct[0] : ct[1], cs[0] : cs[1]] = y[ct[0] - wt[0] : ct[1] - wt[0], cs[0] - ws[0] : cs[1] - ws[0]]
            else:
                w = np.outer(taper_weights(ct, wt, c0, c1, plan_.halo), taper_weights(cs, ws, d0, d1, plan_.halo))
                acc[s, wt[0] : wt[1], ws[0] : ws[1]] += w * y
                wsum[s, wt[0] : wt[1], ws[0] : ws[1]] += w
    if wsum is not None:
        acc[:, c0:c1, d0:d1] /= wsum[:, c0:c1, d0:d1]
    return plan_.unsections(acc[:, c0:c1, d0:d1], block.shape)


def infer(window: np.ndarray, scale: float, predict: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The model's view of one window, as ``denoise`` and ``qc`` both run it: scaled by the survey's
    scale, non-finite samples set to 0 (one bad sample must not spread over the receptive field),
    ``predict``, then unscaled. Returns the output and the mask of the non-finite input samples,
    which the caller sets to 0 in the output once cropped."""
    block = np.asarray(window, dtype=np.float32) * np.float32(scale)
    bad = ~np.isfinite(block)
    if bad.any():
        block[bad] = 0.0
    out = predict(block)
    out /= np.float32(scale)
    return out, bad
