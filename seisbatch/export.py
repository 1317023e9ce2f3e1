"""seisbatch store -> SEG-Y, in parallel on Dask.

Traces are written in the original file order with the original headers and sample format, so an
unmodified store gives back the input byte for byte. Stores without SEG-Y headers (from HDF5) get
standard headers (inline/crossline at 189/193, IEEE floats). Each task takes one chunk-aligned
block of the trace grid and writes its traces, as runs of consecutive file traces, at their
offsets in ``OUT.partial``, then marks its block done in ``OUT.partial.progress`` (a small Zarr
group: the store read is never written); only a finished file is renamed to ``OUT``. An export
killed midway resumes with the blocks not yet written when run again with the same store, array
and output; one that stops on an error removes what it wrote.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import numpy as np
import zarr
from distributed import Client

from . import engine, geometry, locking, store
from .errors import SeisbatchError
from .segy_format import FILE_HEADER_SIZE, TEXT_SIZE, TRACE_HEADER_SIZE, encode
from .segy_writer import file_header, records, trace_headers

TASK_BYTES = 32 << 20  # samples written per task, about


def plan_blocks(grid_shape: tuple[int, ...], grid_chunks: tuple[int, ...], n_samples: int) -> list[tuple[slice, ...]]:
    """Blocks of the trace grid aligned to the exported array's chunks (so each chunk is read and
    decompressed once), widened along the last grid axis to about ``TASK_BYTES`` of samples."""
    k = max(1, TASK_BYTES // (int(np.prod(grid_chunks)) * n_samples * 4))
    widened = tuple(grid_chunks[:-1]) + (min(grid_shape[-1], grid_chunks[-1] * k),)
    return geometry.plan_blocks(grid_shape, widened)


JOB = "export"


def export_task(path: str, array: str, out: str, index: int, block: tuple[slice, ...], g2f: np.ndarray,
                spec: dict) -> int:
    """Worker: encode the traces of grid block ``index`` (``g2f``: its cells' file traces, -1 for
    none) in file order, write each run of consecutive file traces at its offset in ``out``, then
    mark the block done in ``out``'s progress."""
    n = _write_block(path, array, out, block, g2f, spec)
    store.mark_done(out + ".progress", JOB, index)
    return n


def _write_block(path: str, array: str, out: str, block: tuple[slice, ...], g2f: np.ndarray, spec: dict) -> int:
    live = g2f >= 0
    files = g2f[live]
    if not files.size:
        return 0
    order = np.argsort(files, kind="stable")
    files = files[order]
    cells = np.flatnonzero(live.ravel())[order]  # the block's cells, in file order
    in_order = cells.size == live.size and bool(np.all(np.diff(cells) == 1))

    root = zarr.open_group(path, mode="r")
    ns = spec["n_samples"]

    def take(name: str, width: int) -> np.ndarray:
        rows = np.asarray(root[name][block]).reshape(-1, width) if width else np.asarray(root[name][block]).ravel()
        return rows if in_order else rows[cells]

    samples = encode(take(array, ns), spec["format"], spec["endian"])
    raw_trace, raw_headers = store.find_internal(root, "raw_trace"), store.find_internal(root, "raw_headers")
    if array == "amplitude" and raw_trace:
        use_raw = take(raw_trace, 0)
        if use_raw.any():
            samples[use_raw] = take(store.find_internal(root, "raw_samples"), ns)[use_raw].astype(samples.dtype)
    if raw_headers:
        headers = take(raw_headers, TRACE_HEADER_SIZE)
    else:
        local = np.unravel_index(cells, live.shape)
        dims = root["trace_mask"].metadata.dimension_names
        lines = {d: root[d][:][b.start + i] for d, b, i in zip(dims, block, local)}
        headers = trace_headers(files, lines, ns, spec["interval_us"], spec["delay_ms"])
    data = records(headers, samples).view(np.uint8)
    tb = spec["trace_bytes"]
    fd = os.open(out, os.O_WRONLY)
    try:
        for i, j in geometry.consecutive_runs(files):
            os.pwrite(fd, data[i * tb : j * tb], spec["data_offset"] + int(files[i]) * tb)
    finally:
        os.close(fd)
    return int(files.size)


def check(path: str, out: str, array: str, overwrite: bool) -> zarr.Group:
    """Refuse an export that cannot succeed before it starts: the output must be a local file in an
    existing folder, new unless ``overwrite``; the store complete, with ``array`` complete in it.
    Returns the store's root."""
    path, out = os.fspath(path), os.fspath(out)
    if store.is_url(out):
        raise SeisbatchError(out, "export writes a local SEG-Y file: give a local path, then copy the file to object "
                                  "storage (e.g. with `aws s3 cp`)")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise SeisbatchError(out, f"no such directory {folder}")
    root = store.open_complete(path)
    amp = root["amplitude"]
    exportable = sorted(k for k, a in root.arrays() if a.shape == amp.shape and a.dtype.kind == "f"
                        and a.metadata.dimension_names == amp.metadata.dimension_names)
    if array not in root:
        raise SeisbatchError(path, f"no array {array!r} in the store (exportable: {', '.join(exportable)})")
    if array not in exportable:
        raise SeisbatchError(path, f"array {array!r} is not samples shaped like the amplitude, so it cannot be a SEG-Y "
                                   f"file (exportable: {', '.join(exportable)})")
    arr_meta = dict(root[array].attrs.get("seisbatch", {}))
    if arr_meta and not arr_meta.get("complete", False):
        if arr_meta.get("trial"):
            where = ", ".join(f"{d} {lo:g}..{hi:g}" for d, (lo, hi) in arr_meta["trial"]["subset"].items())
            raise SeisbatchError(path, f"array {array!r} holds a trial over {where} only: run the same denoise "
                                       "without the subset to finish it, then export")
        raise SeisbatchError(path, f"array {array!r} is incomplete: finish the run that writes it first")
    store.prepare_output(out, overwrite, inputs=(path,))
    return root


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
    root = check(path, out, array, overwrite)
    meta = store.meta(root)
    mask = root["trace_mask"]
    ns = root["amplitude"].shape[-1]
    if "segy" in meta:
        seg = meta["segy"]
        text = store.unb64(seg["text_header"])
        binary = store.unb64(seg["binary_header"])
        ext = [store.unb64(e) for e in seg["ext_headers"]]
        grid_index = root[store.find_internal(root, "trace_order")][:]
        spec = {"format": seg["format"], "endian": seg["endian"], "n_samples": ns}
    else:
        dt_us = int(round(float(meta.get("sample_interval", 4.0)) * 1000))
        text, binary = file_header(ns, dt_us, f"FROM {meta.get('source', {}).get('path', path)}")
        ext = []
        grid_index = np.arange(int(np.prod(mask.shape)), dtype=np.int64)
        spec = {"format": 5, "endian": "big", "n_samples": ns, "interval_us": dt_us,
                "delay_ms": int(root["sample"][0])}
    itemsize = encode(np.zeros(1, np.float32), spec["format"], spec["endian"]).itemsize
    spec["trace_bytes"] = TRACE_HEADER_SIZE + ns * itemsize
    spec["data_offset"] = FILE_HEADER_SIZE + TEXT_SIZE * len(ext)
    partial = out + ".partial"
    g2f = geometry.grid_to_file(grid_index, mask.shape)
    blocks = plan_blocks(mask.shape, root[array].chunks[:-1], ns)
    size = spec["data_offset"] + len(grid_index) * spec["trace_bytes"]
    what = {"store": os.path.abspath(path), "array": array, "array_meta": dict(root[array].attrs.get("seisbatch", {})),
            "source": meta.get("source"), "spec": spec, "bytes": size}
    with locking.store_lock(partial):  # one export per output
        done = _start_or_resume(partial, json.loads(json.dumps(what)), len(blocks), text + binary + b"".join(ext), size)
        todo = [i for i in range(len(blocks)) if not done[i]]
        try:
            with engine.maybe_client(client, workers=workers) as c:
                engine.run_tasks(c, export_task, [(path, array, partial, i, blocks[i], g2f[blocks[i]], spec)
                                                  for i in todo], progress)
        except BaseException:
            os.remove(partial)
            shutil.rmtree(partial + ".progress", ignore_errors=True)
            raise
        left = store.done_mask(partial + ".progress", JOB, len(blocks))
        if left is None or not left.all():
            raise SeisbatchError(out, "some blocks were not written; run the same command again to finish")
        os.replace(partial, out)
        shutil.rmtree(partial + ".progress", ignore_errors=True)
    return {"path": out, "traces": len(grid_index), "bytes": os.path.getsize(out), "tasks": len(blocks),
            "computed": len(todo), "resumed": len(blocks) - len(todo), "array": array}


def _start_or_resume(partial: str, what: dict, n_blocks: int, head: bytes, size: int) -> np.ndarray:
    """The blocks already written in ``partial`` by an export of the same store, array and layout
    that was killed (its progress says which); otherwise a fresh ``partial`` (the file headers, then
    room for every trace) with no block done."""
    log = partial + ".progress"
    if os.path.isfile(partial) and os.path.getsize(partial) == size and store.is_zarr_dir(log):
        try:
            same = dict(zarr.open_group(log, mode="r").attrs).get("export") == what
        except Exception:
            same = False
        done = store.done_mask(log, JOB, n_blocks) if same else None
        if done is not None:
            return done
    shutil.rmtree(log, ignore_errors=True)
    with open(partial, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    zarr.open_group(log, mode="w", attributes={"export": what})
    store.start_blocks(log, JOB, n_blocks)
    return np.zeros(n_blocks, bool)
