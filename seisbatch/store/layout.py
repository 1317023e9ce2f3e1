"""The seisbatch Zarr v3 store's layout: what it holds, creating and opening it.

Layout (MDIO v1 names where they cost nothing), readable by plain ``xarray.open_zarr``:

- ``amplitude``    float32, dims (inline, crossline, sample) or (trace, sample)
- ``trace_mask``   bool over the trace grid; False where no trace exists (samples are 0)
- ``file/``         what writing the input file back takes, kept out of the survey's variables
  (``xarray.open_zarr`` shows the root only):
  - ``raw_headers``  uint8 (..., header_byte=240): every trace header exactly as in the file
  - ``raw_samples``  the file's sample bit patterns, written only for traces whose value does not
    survive float32 (``raw_trace`` True); empty, and free, for ordinary files
  - ``trace_order``  flat trace-grid index of each file trace, in file order, to write it back
  (format 1 stores hold these four at the top level; they are read there too)
- coordinates: ``inline``/``crossline`` or ``trace``, ``sample`` (ms or m), ``cdp_x``/``cdp_y``

Root attribute ``seisbatch`` holds the state ("converting" until every block is written, then
"complete"), geometry, the raw file headers (base64), provenance and amplitude statistics.
"""

from __future__ import annotations

import base64
import json
import os
import warnings
from typing import Any

import numpy as np
import zarr

from .. import __version__, config
from ..errors import SeisbatchError
from ..segy_format import TRACE_HEADER_SIZE
from .codecs import amplitude_codec
from .paths import is_store


FORMAT_VERSION = 2  # 2: the bookkeeping arrays in the subgroup file/
FILE = "file"
INTERNAL = ("raw_headers", "raw_samples", "raw_trace", "trace_order")


def internal(name: str) -> str:
    """Where a store of this version keeps the bookkeeping array ``name``."""
    return f"{FILE}/{name}"


def find_internal(root: zarr.Group, name: str) -> str | None:
    """Where ``root`` keeps the bookkeeping array ``name`` (``file/`` or, in format 1, the top
    level), or None when it has none."""
    for path in (internal(name), name):
        try:
            if isinstance(root[path], zarr.Array):
                return path
        except KeyError:
            continue
    return None


HEADER_BYTES = TRACE_HEADER_SIZE


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def default_chunks(dims: tuple[str, ...], n_samples: int, grid: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """Chunks of ~2 MiB by default: settings ``seisbatch.convert.chunks-3d`` (32, 32, 512) and
    ``chunks-2d`` (1024, 512, for 2D lines and trace-ordered data); never more samples than a trace
    has. Gathers (a ``grid`` whose last dim is offset or channel) keep whole gathers in a chunk: the
    gather's axis whole, the rest as many gathers as make about the same size."""
    c = [int(v) for v in config.get("convert.chunks-3d" if len(dims) == 2 else "convert.chunks-2d")]
    ns = min(n_samples, c[-1])
    if grid is not None and dims[-1] in ("offset", "channel"):
        per_chunk = max(1, int(np.prod(c[:-1])) // max(grid[-1], 1))  # gathers of traces in a chunk
        side = max(1, round(per_chunk ** (1 / (len(dims) - 1))))
        return tuple(min(side, n) for n in grid[:-1]) + (max(grid[-1], 1), ns)
    return tuple(c[:-1]) + (ns,)


def create(
    path: str,
    *,
    dims: tuple[str, ...],
    axes: dict[str, np.ndarray],
    samples: np.ndarray,
    sample_units: str,
    chunks: tuple[int, ...],
    attrs: dict[str, Any],
    with_headers: bool,
    with_raw_samples: np.dtype | None,
    n_file_traces: int,
    trace_coords: dict[str, np.ndarray] | None = None,
    compression: str | None = None,
    coord_attrs: dict[str, dict[str, Any]] | None = None,
) -> zarr.Group:
    """Write the metadata-only template of a store; workers then fill chunk-aligned regions."""
    grid = tuple(len(axes[d]) for d in dims)
    n_samples = len(samples)
    root = zarr.open_group(path, mode="w-", zarr_format=3)
    meta = dict(attrs, state="converting", format_version=FORMAT_VERSION, tool=f"seisbatch {__version__}")
    root.attrs["seisbatch"] = meta
    amp_dims = list(dims) + ["sample"]
    coords = " ".join(sorted((trace_coords or {}).keys()))
    root.create_array(
        "amplitude", shape=grid + (n_samples,), chunks=chunks, dtype="float32", fill_value=0.0,
        dimension_names=amp_dims, compressors=amplitude_codec(compression),
        attributes={"long_name": "amplitude", "coordinates": coords} if coords else {"long_name": "amplitude"},
    )
    grid_chunks = chunks[:-1]
    root.create_array("trace_mask", shape=grid, chunks=grid_chunks, dtype="bool", fill_value=False, dimension_names=list(dims))
    if with_headers:
        root.create_array(
            internal("raw_headers"), shape=grid + (HEADER_BYTES,), chunks=grid_chunks + (HEADER_BYTES,), dtype="uint8",
            fill_value=0, dimension_names=list(dims) + ["header_byte"],
        )
    if with_raw_samples is not None:
        root.create_array(
            internal("raw_samples"), shape=grid + (n_samples,), chunks=chunks, dtype=with_raw_samples, fill_value=0,
            dimension_names=amp_dims,
        )
        root.create_array(internal("raw_trace"), shape=grid, chunks=grid_chunks, dtype="bool", fill_value=False, dimension_names=list(dims))
    root.create_array(
        internal("trace_order"), shape=(n_file_traces,), chunks=(min(max(n_file_traces, 1), 1 << 20),), dtype="int64",
        fill_value=-1, dimension_names=["file_trace"],
    )
    for d in dims:
        arr = root.create_array(d, shape=(len(axes[d]),), dtype=axes[d].dtype, dimension_names=[d],
                                attributes=(coord_attrs or {}).get(d, {}))
        arr[:] = axes[d]
    s = root.create_array("sample", shape=(n_samples,), dtype="float64", dimension_names=["sample"],
                          attributes={"units": sample_units, "long_name": "depth" if sample_units in ("m", "ft") else "time"})
    s[:] = samples
    side = round((1 << 20) ** (1 / len(grid)))  # ~1M cells per coordinate chunk: few small writes
    for name, values in (trace_coords or {}).items():
        chunks_c = tuple(min(n, max(c, side)) for n, c in zip(values.shape, grid_chunks))
        c = root.create_array(name, shape=values.shape, chunks=chunks_c, dtype=values.dtype, dimension_names=list(dims),
                              attributes=(coord_attrs or {}).get(name, {}))
        c[...] = values
    return root


def write_trace_order(path: str, grid_index: np.ndarray) -> None:
    zarr.open_array(store=path, path=internal("trace_order"), mode="r+")[:] = grid_index


def open_root(path: str, mode: str = "r") -> zarr.Group:
    """Open a seisbatch store, with a clear error if it is not one."""
    if not is_store(path):
        if os.path.isfile(path):  # the input file itself, given where its store is expected
            stem = os.path.splitext(os.path.basename(path))[0]
            raise SeisbatchError(path, f"a file, not a seisbatch store: convert it first, e.g. "
                                       f"`seisbatch convert {path} {stem}.zarr`, and give the store")
        raise SeisbatchError(path, "no such store (expected a directory or URL made by `seisbatch convert`)")
    outer = _enclosing_store(path)
    if outer is not None:
        raise SeisbatchError(path, f"an array or group inside the seisbatch store {outer}: give the store itself "
                                   f"(`{outer}`)")
    try:
        root = zarr.open_group(path, mode=mode)
    except Exception as exc:  # zarr raises several types for "not a group"
        raise SeisbatchError(path, f"not a Zarr store: {exc}") from exc
    if "seisbatch" not in root.attrs:
        if "apiVersion" in root.attrs:  # MDIO v1 writes its version there
            raise SeisbatchError(path, f"an MDIO {root.attrs['apiVersion']} store, not a seisbatch store: convert it "
                                       "with `seisbatch convert STORE.mdio OUT.zarr` first")
        raise SeisbatchError(path, "not a seisbatch store (no 'seisbatch' attributes): make one with `seisbatch convert`")
    return root


def _enclosing_store(path: str) -> str | None:
    """The seisbatch store that a local path lies inside (``survey.zarr/amplitude``), or None."""
    if "://" in os.fspath(path):
        return None
    here = os.path.abspath(path)
    parent = os.path.dirname(here)
    while parent != here:
        try:
            with open(os.path.join(parent, "zarr.json")) as fh:
                node = json.load(fh)
        except (OSError, ValueError):
            return None  # a folder that is not Zarr ends the search
        if node.get("node_type") == "group" and "seisbatch" in node.get("attributes", {}):
            return os.path.relpath(parent) if not os.path.isabs(path) else parent
        here, parent = parent, os.path.dirname(parent)
    return None


def meta(root: zarr.Group) -> dict:
    return dict(root.attrs.get("seisbatch", {}))


def open_complete(path: str, mode: str = "r") -> zarr.Group:
    """Open a store that finished converting; a half-converted store is refused."""
    root = open_root(path, mode)
    state = meta(root).get("state", "complete")
    if state != "complete":
        raise SeisbatchError(path, f"store is incomplete (state {state!r}): the conversion did not finish; convert again")
    return root


def update_meta(path: str, **changes: Any) -> None:
    root = zarr.open_group(path, mode="r+")
    m = meta(root)
    m.update(changes)
    root.attrs["seisbatch"] = m


def consolidate(path: str) -> None:
    """Consolidated metadata lets xarray open the store with one read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(path)


def source_id(src: str) -> dict:
    """What identifies an input file as it is now: its absolute path, size and modification time."""
    st = os.stat(src)
    return {"path": os.path.abspath(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def same_source(recorded: dict, source: dict) -> bool:
    """Whether a store's recorded source is the same file, unchanged, as ``source`` (:func:`source_id`)."""
    return all(recorded.get(k) == source.get(k) for k in ("path", "size", "mtime_ns"))
