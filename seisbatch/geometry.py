"""Survey geometry from trace header values: 3D grid, 2D line, or plain traces (pre-stack/unsorted).

Pure index arithmetic on header arrays, no I/O, so it is tested and reused everywhere.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from functools import reduce

import numpy as np

from .errors import SeisbatchError

KINDS = ("auto", "3d", "2d", "traces")
#: A 3D grid must have at least this fraction of its cells filled to be chosen automatically.
MIN_FILL = 0.5


@dataclass
class Geometry:
    """How the traces of a file map onto the store's trace grid.

    ``grid_index[i]`` is the flat index in the trace grid (shape ``grid_shape``) of file trace i.
    """

    kind: str  # "3d", "2d" or "traces"
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


def traces(n: int, kind: str = "traces") -> Geometry:
    """One trace axis in file order."""
    return Geometry(kind, ("trace",), {"trace": np.arange(n, dtype=np.int64)}, np.arange(n, dtype=np.int64))


def detect(il: np.ndarray, xl: np.ndarray, force: str = "auto", path: str | None = None) -> Geometry:
    """Choose the geometry of a file from its inline/crossline header values.

    auto: a 3D grid when both axes vary, pairs are unique and the grid is at least half full; a 2D
    line when one axis is constant and the other is unique per trace; otherwise traces in file order.
    """
    if force not in KINDS:
        raise SeisbatchError(path, f"unknown geometry {force!r}; choose one of {KINDS}")
    n = len(il)
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
            g = traces(n)
            g.notes.append(f"not a 3D grid ({str(exc).split(';')[0]}): stored as traces")
            return g
        fill = n / math.prod(geom.grid_shape)
        if fill >= MIN_FILL:
            if fill < 1:
                geom.notes.append(f"irregular 3D grid: {math.prod(geom.grid_shape) - n} missing traces")
            return geom
        g = traces(n)
        g.notes.append(f"inline/crossline grid only {fill:.0%} full: stored as traces")
        return g
    if (n_il == 1) != (n_xl == 1) and max(n_il, n_xl) == n:
        return traces(n, "2d")
    return traces(n)


def plan_blocks(grid_shape: tuple[int, ...], grid_chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Chunk-aligned blocks that tile the trace grid exactly once."""
    ranges = [
        [slice(a, min(a + c, n)) for a in range(0, n, c)] for n, c in zip(grid_shape, grid_chunks)
    ]
    return [tuple(b) for b in itertools.product(*ranges)]
