"""Survey geometry from trace header values: a 3D grid, a 2D line, pre-stack gathers (3D or 2D
CMP gathers with an offset axis, shot gathers with a channel axis), or plain traces (unsorted).

Pure index arithmetic on header arrays, no I/O, so it is tested and reused everywhere.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from .errors import SeisbatchError

KINDS = ("auto", "3d", "2d", "cmp3d", "cmp2d", "shot", "traces")
#: The trace-grid dims of each pre-stack layout (MDIO v1 names); the last is the gather's trace axis.
PRESTACK = {"cmp3d": ("inline", "crossline", "offset"), "cmp2d": ("cdp", "offset"), "shot": ("shot_point", "channel")}
#: A 3D grid must have at least this fraction of its cells filled to be chosen automatically.
MIN_FILL = 0.5


@dataclass
class Geometry:
    """How the traces of a file map onto the store's trace grid.

    ``grid_index[i]`` is the flat index in the trace grid (shape ``grid_shape``) of file trace i.
    """

    kind: str  # "3d", "2d", "cmp3d", "cmp2d", "shot" or "traces"
    dims: tuple[str, ...]  # trace-grid dims, e.g. ("inline", "crossline") or ("trace",)
    axes: dict[str, np.ndarray]  # coordinate values of each grid dim
    grid_index: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(len(self.axes[d]) for d in self.dims)

    @property
    def n_live(self) -> int:
        return len(self.grid_index)


def grid_to_file(grid_index: np.ndarray, grid_shape: tuple[int, ...]) -> np.ndarray:
    """For each cell of the trace grid, the file trace that fills it (-1 where none does);
    ``grid_index``: each file trace's flat cell."""
    g2f = np.full(int(np.prod(grid_shape)), -1, dtype=np.int64)
    g2f[grid_index] = np.arange(len(grid_index))
    return g2f.reshape(grid_shape)


def consecutive_runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(first, stop) positions in sorted integer ``values`` of each run of consecutive values,
    e.g. file traces that one write or one read can cover."""
    cuts = (np.flatnonzero(np.diff(values) != 1) + 1).tolist()
    return list(zip([0, *cuts], [*cuts, len(values)]))


def regular_axis(values: np.ndarray) -> np.ndarray:
    """Sorted line numbers of an axis: the full regular range (so missing lines become dead) when
    that is not much larger than the lines present, else just the values present."""
    uniq = np.unique(values)
    if len(uniq) < 2:
        return uniq
    step = reduce(math.gcd, np.diff(uniq).tolist())
    n_full = (int(uniq[-1]) - int(uniq[0])) // step + 1  # counted before it is made: a damaged header can span 2**32
    if n_full > 4 * len(uniq) + 16:
        return uniq
    return np.arange(uniq[0], uniq[-1] + step, step, dtype=np.int64)


def _duplicates_message(il: np.ndarray, xl: np.ndarray) -> str:
    pairs = np.stack([il, xl], axis=1)
    uniq, counts = np.unique(pairs, axis=0, return_counts=True)
    dup = uniq[counts > 1]
    first = ", ".join(f"({a}, {b})" for a, b in dup[:3])
    return (
        f"duplicate inline/crossline pairs: {len(dup)} pairs appear more than once, e.g. {first}; "
        "check --inline-byte/--crossline-byte, or use --geometry traces for pre-stack data"
    )


def grid_3d(il: np.ndarray, xl: np.ndarray) -> Geometry:
    """Inline x crossline grid; raises if any pair repeats."""
    il_axis, xl_axis = regular_axis(il), regular_axis(xl)
    ii = np.searchsorted(il_axis, il)
    xi = np.searchsorted(xl_axis, xl)
    flat = ii * len(xl_axis) + xi
    if len(np.unique(flat)) != len(flat):
        raise ValueError(_duplicates_message(il, xl))
    return Geometry("3d", ("inline", "crossline"), {"inline": il_axis, "crossline": xl_axis}, flat)


def offset_axis(offsets: np.ndarray, bin_width: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(axis, index of each trace on it): the offsets present, or with ``bin_width`` bins of that
    width from the smallest offset (the axis holds each bin's nominal offset)."""
    if not bin_width:
        axis = np.unique(offsets)
        return axis, np.searchsorted(axis, offsets)
    k = np.round((offsets - offsets.min()) / bin_width).astype(np.int64)
    axis = offsets.min() + bin_width * np.arange(int(k.max()) + 1)
    return (axis.astype(np.int64) if float(bin_width).is_integer() else axis), k


def grid(kind: str, keys: dict[str, np.ndarray], offset_bins: float | None = None) -> Geometry:
    """The pre-stack grid ``kind`` (see :data:`PRESTACK`) of the traces' header ``keys``; raises
    ValueError if two traces fall in one cell (the bytes are wrong, or offsets need binning)."""
    dims = PRESTACK[kind]
    axes, index = {}, []
    for d in dims:
        if d == "offset":
            axes[d], i = offset_axis(keys[d], offset_bins)
        else:
            axes[d] = regular_axis(keys[d])
            i = np.searchsorted(axes[d], keys[d])
        index.append(i)
    flat = np.ravel_multi_index(index, tuple(len(axes[d]) for d in dims))
    if len(np.unique(flat)) != len(flat):
        hint = "; try --offset-bins" if "offset" in dims else ""
        raise ValueError(f"two traces share a cell of the {kind} grid ({', '.join(dims)}): check the header bytes{hint}")
    return Geometry(kind, dims, axes, flat)


def _prestack(keys: dict[str, np.ndarray], n_il: int, n_xl: int, offset_bins: float | None) -> Geometry | None:
    """Auto-detection of gathers: only where offsets vary, the first layout whose grid is unique
    and at least :data:`MIN_FILL` full, tried in the order 3D CMP (inline and crossline vary), 2D
    CMP, shot."""
    if "offset" not in keys or len(np.unique(keys["offset"])) < 2:
        return None
    kinds = (["cmp3d"] if n_il > 1 and n_xl > 1 else []) + ["cmp2d", "shot"]
    for kind in kinds:
        try:
            g = grid(kind, keys, offset_bins)
        except (ValueError, KeyError):
            continue
        fill = len(keys["offset"]) / math.prod(g.grid_shape)
        if fill >= MIN_FILL:
            g.notes.append(f"pre-stack {kind} gathers: offsets vary, and each ({', '.join(g.dims)}) cell holds at most "
                           f"one trace, {fill:.0%} of cells filled (--geometry forces another layout)")
            return g
    return None


def traces(n: int, kind: str = "traces") -> Geometry:
    """One trace axis in file order."""
    return Geometry(kind, ("trace",), {"trace": np.arange(n, dtype=np.int64)}, np.arange(n, dtype=np.int64))


def detect(il: np.ndarray, xl: np.ndarray, force: str = "auto", path: str | None = None,
           gathers: dict[str, np.ndarray] | None = None, offset_bins: float | None = None) -> Geometry:
    """Choose the geometry of a file from its inline/crossline header values, and ``gathers``'
    (offset, cdp, shot_point, channel) for pre-stack layouts.

    auto: a 3D grid when both axes vary, pairs are unique and the grid is at least half full; a 2D
    line when one axis is constant and the other is unique per trace; else, where offsets vary,
    gathers (3D CMP, 2D CMP or shot, the first whose grid is unique and at least half full);
    otherwise traces in file order.
    """
    if force not in KINDS:
        raise SeisbatchError(path, f"unknown geometry {force!r}; choose one of {KINDS}")
    n = len(il)
    keys = dict(gathers or {}, inline=il, crossline=xl)
    if force in PRESTACK:
        try:
            return grid(force, keys, offset_bins)
        except ValueError as exc:
            raise SeisbatchError(path, str(exc)) from None
    if force == "traces":
        return traces(n)
    if force == "2d":
        return traces(n, "2d")
    if force == "3d":
        try:
            return grid_3d(il, xl)
        except ValueError as exc:
            raise SeisbatchError(path, str(exc)) from None
    n_il, n_xl = len(np.unique(il)), len(np.unique(xl))
    if n_il > 1 and n_xl > 1:
        try:
            geom = grid_3d(il, xl)
        except ValueError as exc:
            g = _prestack(keys, n_il, n_xl, offset_bins) or traces(n)
            if g.kind == "traces":
                g.notes.append(f"not a 3D grid ({str(exc).split(';')[0]}) nor gathers: stored as traces")
            return g
        fill = n / math.prod(geom.grid_shape)
        if fill >= MIN_FILL:
            if fill < 1:
                geom.notes.append(f"irregular 3D grid: {math.prod(geom.grid_shape) - n} missing traces")
            return geom
        g = _prestack(keys, n_il, n_xl, offset_bins) or traces(n)
        if g.kind == "traces":
            g.notes.append(f"inline/crossline grid only {fill:.0%} full: stored as traces")
        return g
    if (n_il == 1) != (n_xl == 1) and max(n_il, n_xl) == n:
        return traces(n, "2d")
    return _prestack(keys, n_il, n_xl, offset_bins) or traces(n)


def plan_blocks(grid_shape: tuple[int, ...], grid_chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Chunk-aligned blocks that tile the trace grid exactly once."""
    ranges = [
        [slice(a, min(a + c, n)) for a in range(0, n, c)] for n, c in zip(grid_shape, grid_chunks)
    ]
    return [tuple(b) for b in itertools.product(*ranges)]
