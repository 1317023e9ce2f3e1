"""seisbatch store -> SEG-Y, in parallel on Dask.

Traces are written in the original file order with the original headers and sample format, so an
unmodified store gives back the input byte for byte. Stores without SEG-Y headers (from HDF5) get
standard headers (inline/crossline at 189/193, IEEE floats). Each task writes a disjoint byte range
of ``OUT.partial``; only a finished file is renamed to ``OUT``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import zarr
from distributed import Client

from . import engine, store
from .errors import SeisbatchError
from .segy_format import encode
from .segy_writer import file_header, records, trace_headers

TASK_BYTES = 32 << 20  # samples written per task


def _gather(arr: zarr.Array, coords: tuple[np.ndarray, ...]) -> np.ndarray:
    """arr[coords[0][k], coords[1][k], ...] for every k, reading only the bounding rows/columns."""
    uniq = [np.unique(c) for c in coords]
    block = arr.oindex[tuple(uniq) + (slice(None),) * (arr.ndim - len(coords))]
    pos = tuple(np.searchsorted(u, c) for u, c in zip(uniq, coords))
    return block[pos]


def export_task(
    path: str, array: str, out: str, start: int, stop: int, grid_index: np.ndarray, spec: dict
) -> int:
    """Worker: encode file traces ``start:stop`` and write them at their offset in ``out``."""
    root = zarr.open_group(path, mode="r")
    grid_shape = root["trace_mask"].shape
    coords = np.unravel_index(grid_index, grid_shape)
    values = _gather(root[array], coords)
    fmt, endian, ns = spec["format"], spec["endian"], spec["n_samples"]
    samples = encode(values, fmt, endian)
    if array == "amplitude" and "raw_trace" in root:
        use_raw = _gather(root["raw_trace"], coords)
        if use_raw.any():
            raw = _gather(root["raw_samples"], coords)
            samples[use_raw] = raw[use_raw].astype(samples.dtype)
    if "raw_headers" in root:
        headers = _gather(root["raw_headers"], coords)
    else:
        lines = {d: root[d][:][c] for d, c in zip(root["trace_mask"].metadata.dimension_names, coords)}
        headers = trace_headers(np.arange(start, stop), lines, ns, spec["interval_us"], spec["delay_ms"])
    data = records(headers, samples)
    fd = os.open(out, os.O_WRONLY)
    try:
        os.pwrite(fd, data.tobytes(), spec["data_offset"] + start * spec["trace_bytes"])
    finally:
        os.close(fd)
    return stop - start


def plan_ranges(grid_coords: tuple[np.ndarray, ...], per_task: int) -> list[tuple[int, int]]:
    """Cut the file order into ranges whose bounding box of grid rows/columns stays small."""
    n = len(grid_coords[0])
    out: list[tuple[int, int]] = []
    pending = [(a, min(a + per_task, n)) for a in range(0, n, per_task)]
    while pending:
        a, b = pending.pop()
        box = int(np.prod([len(np.unique(c[a:b])) for c in grid_coords]))
        if b - a > 1 and box > 4 * (b - a) + 1024:
            mid = (a + b) // 2
            pending += [(mid, b), (a, mid)]
        else:
            out.append((a, b))
    return sorted(out)


def export_segy(
    path: str,
    out: str,
    *,
    array: str = "amplitude",
    client: Client | None = None,
    overwrite: bool = False,
    progress: engine.Progress | None = None,
    workers: int | None = None,
) -> dict[str, Any]:
    """Write ``array`` of the store at ``path`` as the SEG-Y file ``out``."""
    path, out = os.fspath(path), os.fspath(out)
    root = store.open_complete(path)
    if array not in root:
        raise SeisbatchError(path, f"no array {array!r} in the store (arrays: {sorted(root.array_keys())})")
    arr_meta = dict(root[array].attrs.get("seisbatch", {}))
    if arr_meta and not arr_meta.get("complete", False):
        raise SeisbatchError(path, f"array {array!r} is incomplete: finish the run that writes it first")
    meta = store.meta(root)
    mask = root["trace_mask"]
    ns = root["amplitude"].shape[-1]
    if "segy" in meta:
        seg = meta["segy"]
        text = store.unb64(seg["text_header"])
        binary = store.unb64(seg["binary_header"])
        ext = [store.unb64(e) for e in seg["ext_headers"]]
        grid_index = root["trace_order"][:]
        spec = {"format": seg["format"], "endian": seg["endian"], "n_samples": ns}
    else:
        dt_us = int(round(float(meta.get("sample_interval", 4.0)) * 1000))
        text, binary = file_header(ns, dt_us, f"FROM {meta.get('source', {}).get('path', path)}")
        ext = []
        grid_index = np.arange(int(np.prod(mask.shape)), dtype=np.int64)
        spec = {"format": 5, "endian": "big", "n_samples": ns, "interval_us": dt_us,
                "delay_ms": int(root["sample"][0])}
    itemsize = encode(np.zeros(1, np.float32), spec["format"], spec["endian"]).itemsize
    spec["trace_bytes"] = 240 + ns * itemsize
    spec["data_offset"] = 3600 + 3200 * len(ext)
    store.prepare_output(out, overwrite, inputs=(path,))
    partial = out + ".partial"
    with open(partial, "wb") as fh:
        fh.write(text + binary + b"".join(ext))
        fh.truncate(spec["data_offset"] + len(grid_index) * spec["trace_bytes"])
    coords = np.unravel_index(grid_index, mask.shape)
    per_task = max(1, TASK_BYTES // (ns * 4))
    ranges = plan_ranges(coords, per_task)
    try:
        with engine.maybe_client(client, workers=workers) as c:
            engine.run_tasks(
                c, export_task, [(path, array, partial, a, b, grid_index[a:b], spec) for a, b in ranges], progress
            )
    except BaseException:
        os.remove(partial)
        raise
    os.replace(partial, out)
    return {"path": out, "traces": len(grid_index), "bytes": os.path.getsize(out), "tasks": len(ranges), "array": array}
