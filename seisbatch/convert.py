"""SEG-Y and HDF5 -> seisbatch store, in parallel on Dask.

The client scans headers, decides the geometry and writes a metadata-only store; each task then
reads the traces of one chunk-aligned block of the trace grid, writes amplitude, headers and mask
for that block directly into the store, and returns only small statistics. Peak memory is a few
blocks, whatever the file size. The store is marked complete only after every block is written.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import uuid
from typing import Any

import numpy as np
from distributed import Client

from . import config, engine, geometry, hdf5_source, locking, mdio_source, segy_reader, segy_writer, stats, store
from .errors import SeisbatchError
from .segy_format import EXACT_IN_FLOAT32, SAMPLE_FORMATS, decode, lossy_rows, sample_size


def plan_blocks(grid_shape: tuple[int, ...], grid_chunks: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Chunk-aligned blocks that tile the trace grid exactly once."""
    ranges = [
        [slice(a, min(a + c, n)) for a in range(0, n, c)] for n, c in zip(grid_shape, grid_chunks)
    ]
    return [tuple(b) for b in itertools.product(*ranges)]


def file_digest(path: str, chunk: int = 1 << 22) -> str:
    """sha256 of a file, to tie a store to the exact file it came from."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()


def parse_chunks(text: str | None) -> tuple[int, ...] | None:
    """'32,32,512' -> (32, 32, 512); the converters check the count against the survey's dims."""
    if not text:
        return None
    try:
        chunks = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise SeisbatchError(None, f"--chunks must be comma-separated integers, got {text!r}") from None
    if min(chunks) < 1:
        raise SeisbatchError(None, f"--chunks sizes must be positive, got {text!r}")
    return chunks


def _run_blocks(c: Client, src: str, dst: str, task, args: list[tuple], progress: engine.Progress | None,
                checksum: bool | None, resume: bool) -> tuple[list[dict], np.ndarray, str | None]:
    """Run the blocks not yet logged done (all of them in a fresh store, whose log is not read)
    and, if asked (default: setting ``seisbatch.convert.checksum``), the file's sha256. Returns
    every block's statistics (earlier runs' included) in block order without their histograms,
    those added up, and the digest (or None). Each task returns the row it logs, taken as it
    arrives: reading the whole log back cost ~0.4 ms a block, 15 s for 40,000 blocks."""
    if checksum is None:
        checksum = bool(config.get("convert.checksum"))
    rows = store.read_block_log(dst) if resume else [None] * len(args)
    parts: list[dict] = [{}] * len(args)
    hist = np.zeros(stats.BINS, np.int64)

    def take(i: int, row: np.ndarray) -> None:
        parts[i] = stats.from_row(row)
        hist[:] += parts[i].pop("hist")

    todo = []
    for i, r in enumerate(rows):
        if r is None:
            todo.append(i)
        else:
            take(i, r)
    digest = c.submit(file_digest, src, pure=False) if checksum else None
    engine.run_tasks(c, task, [args[i] for i in todo], progress, on_result=lambda k, row: take(todo[k], row))
    sha = digest.result() if digest is not None else None
    missing = sum(not p for p in parts)
    if missing:
        raise SeisbatchError(dst, f"{missing} blocks were not written; run the same command again to finish")
    return parts, hist, sha


def _with_digest(source: dict, sha: str | None) -> dict:
    return dict(source, sha256=sha) if sha else source


def _start_or_resume(src: str, dst: str, overwrite: bool, source: dict, options: dict, n_blocks: int) -> bool:
    """True to resume an unfinished conversion of the same file and options at ``dst``; else
    ``dst`` is made free for a new store (refused if it exists, unless overwriting)."""
    old = None if overwrite else store.unfinished_conversion(dst, source, options)
    if old is not None:
        if store.BLOCK_LOG in old and old[store.BLOCK_LOG].shape[0] == n_blocks:
            return True
        overwrite = True  # stopped while its template was written: nothing finished to lose
    store.prepare_output(dst, overwrite, inputs=(src,), kind="store")
    return False


# ---------------------------------------------------------------- SEG-Y


def segy_block_task(layout: dict, path: str, index: int, block: tuple[slice, ...], g2f: np.ndarray, keep_raw: bool,
                    run: str) -> np.ndarray:
    """Worker: read the file traces of one grid block, write it into the store, then log it done;
    returns its row of the log."""
    lay = segy_reader.SegyLayout(**layout)
    live = g2f >= 0
    order = g2f[live]
    if np.all(np.diff(order) > 0):  # file order already matches grid order: no reordering copy
        records = segy_reader.read_selected(lay, order)
    else:
        sort = np.argsort(order, kind="stable")
        records = segy_reader.read_selected(lay, order[sort])
        unsort = np.empty_like(sort)
        unsort[sort] = np.arange(len(sort))
        records = records[unsort]  # back to the block's grid order
    values = decode(records["samples"], lay.format)
    grid = g2f.shape
    if live.all():
        amp = values.reshape(grid + (lay.n_samples,))
        hdr = records["header"].reshape(grid + (store.HEADER_BYTES,))
    else:
        amp = np.zeros(grid + (lay.n_samples,), dtype=np.float32)
        amp[live] = values
        hdr = np.zeros(grid + (store.HEADER_BYTES,), dtype=np.uint8)
        hdr[live] = records["header"]
    if live.any():  # a block without traces keeps the fill values: nothing to write
        store.writable(path, "amplitude", run)[block] = amp
        store.writable(path, "raw_headers", run)[block] = hdr
    n_raw = 0
    if keep_raw:
        lossy = lossy_rows(records["samples"], values, lay.format, lay.endian)
        n_raw = int(lossy.sum())
        if n_raw:
            raw = store.writable(path, "raw_samples", run)
            bits = np.zeros(amp.shape, dtype=raw.dtype)
            bits[live] = records["samples"].astype(raw.dtype)
            raw[block] = bits
            flags = np.zeros(grid, dtype=bool)
            flags[live] = lossy
            store.writable(path, "raw_trace", run)[block] = flags
    return _mask_and_log(path, index, block, live, dict(stats.block_stats(values), raw_traces=n_raw), run)


def header_piece_task(layout: dict, bytes_: list[int], start: int, stop: int) -> dict[int, np.ndarray]:
    """Worker: the header fields of file traces ``start``..``stop``."""
    return segy_reader.read_header_fields(segy_reader.SegyLayout(**layout), bytes_, start=start, stop=stop)


def plan_scan(n_traces: int, trace_bytes: int, n_workers: int, piece_mb: float) -> list[tuple[int, int]]:
    """Trace ranges for the header scan: one per worker, each at most ``piece_mb`` MiB of file and at
    least 32 MiB (smaller pieces cost more in task overhead than they save); a single range means
    the client scans the file itself."""
    size = n_traces * trace_bytes
    piece = min(piece_mb * 2**20, max(32 * 2**20, size / max(n_workers, 1)))
    per = max(1, int(piece // trace_bytes))
    return [(a, min(a + per, n_traces)) for a in range(0, n_traces, per)] or [(0, 0)]


def scan_header_fields(c: Client, layout: segy_reader.SegyLayout, bytes_: list[int],
                       progress: engine.Progress | None = None) -> dict[int, np.ndarray]:
    """Header fields of every trace, read by the cluster's workers in pieces (setting
    ``seisbatch.convert.scan-piece-mb``) when the file is large enough to share: for a survey of
    hundreds of GB the pass over every header is a read of the whole file, which one client would
    do alone, silently, before any block starts."""
    pieces = plan_scan(layout.n_traces, layout.trace_bytes, len(c.scheduler_info().get("workers", {})),
                       float(config.get("convert.scan-piece-mb")))
    if len(pieces) == 1:
        return segy_reader.read_header_fields(layout, bytes_)
    parts = engine.run_tasks(c, header_piece_task, [(layout.to_dict(), bytes_, a, b) for a, b in pieces], progress)
    return {b: np.concatenate([p[b] for p in parts]) for b in bytes_}


def _trace_coords(layout: segy_reader.SegyLayout, geom: geometry.Geometry, fields: dict[int, np.ndarray],
                  il_byte: int, xl_byte: int) -> dict[str, np.ndarray]:
    """cdp_x/cdp_y (scaled) on the grid, and for trace-ordered data the header line numbers."""
    size = int(np.prod(geom.grid_shape))
    scale = segy_reader.coordinate_scalar(fields[segy_reader.TH_SCALCO])
    out: dict[str, np.ndarray] = {}
    for name, byte in (("cdp_x", segy_reader.TH_CDP_X), ("cdp_y", segy_reader.TH_CDP_Y)):
        v = np.full(size, np.nan)
        v[geom.grid_index] = fields[byte] * scale
        out[name] = v.reshape(geom.grid_shape)
    if geom.kind != "3d":
        for name, byte in (("inline_number", il_byte), ("crossline_number", xl_byte)):
            out[name] = fields[byte].astype(np.int32)
    return out


def convert_segy(
    src: str,
    dst: str,
    *,
    client: Client | None = None,
    inline_byte: int = 189,
    crossline_byte: int = 193,
    geometry_kind: str = "auto",
    endian: str | None = None,
    chunks: tuple[int, ...] | None = None,
    sample_units: str = "ms",
    overwrite: bool = False,
    progress: engine.Progress | None = None,
    workers: int | None = None,
    checksum: bool | None = None,
    compression: str | None = None,
    scan_progress: engine.Progress | None = None,
) -> dict[str, Any]:
    """Convert a SEG-Y file into a new store at ``dst``; returns a summary. ``checksum`` (default:
    setting ``seisbatch.convert.checksum``) also records the file's sha256; ``compression`` names
    the amplitude codec (default: setting ``seisbatch.convert.compression``); ``progress`` follows
    the blocks and ``scan_progress`` the pieces of the header scan (when the workers share it)."""
    src, dst = os.fspath(src), os.fspath(dst)
    layout = segy_reader.scan(src, endian)
    compression = store.compression_name(compression)  # checked before anything is started or written
    with engine.maybe_client(client, workers=workers) as c:
        wanted = sorted({inline_byte, crossline_byte, segy_reader.TH_CDP_X, segy_reader.TH_CDP_Y, segy_reader.TH_SCALCO})
        fields = scan_header_fields(c, layout, wanted, scan_progress)
        geom = geometry.detect(fields[inline_byte], fields[crossline_byte], geometry_kind, src)
        text, binary, ext = segy_reader.read_file_header(layout)
        ns = layout.n_samples
        chunks = chunks or store.default_chunks(geom.dims, ns)
        if len(chunks) != len(geom.dims) + 1:
            raise SeisbatchError(src, f"--chunks needs {len(geom.dims) + 1} sizes for a {geom.kind} survey")
        keep_raw = layout.format not in EXACT_IN_FLOAT32
        dt_ms = layout.sample_interval_us / 1000.0
        source = dict(store.source_id(src), format="segy")
        options = {"geometry": geometry_kind, "chunks": list(chunks), "endian": layout.endian,
                   "inline_byte": inline_byte, "crossline_byte": crossline_byte, "sample_units": sample_units,
                   "compression": compression}
        attrs = {
            "geometry": {"kind": geom.kind, "dims": list(geom.dims), "notes": geom.notes,
                         "inline_byte": inline_byte, "crossline_byte": crossline_byte},
            "source": source,
            "segy": {
                **layout.to_dict(),
                "format_name": SAMPLE_FORMATS[layout.format][1],
                "text_header": store.b64(text),
                "binary_header": store.b64(binary),
                "ext_headers": [store.b64(e) for e in ext],
            },
            "sample_interval": dt_ms,
            "sample_units": sample_units,
            "convert_options": options,
        }
        g2f = geometry.grid_to_file(geom.grid_index, geom.grid_shape)
        blocks = plan_blocks(geom.grid_shape, chunks[:-1])
        with locking.store_lock(dst):
            resume = _start_or_resume(src, dst, overwrite, source, options, len(blocks))
            if not resume:
                store.create(
                    dst, dims=geom.dims, axes=geom.axes,
                    samples=layout.delay_ms + dt_ms * np.arange(ns), sample_units=sample_units,
                    chunks=chunks, attrs=attrs, with_headers=True,
                    with_raw_samples=np.dtype(SAMPLE_FORMATS[layout.format][0]) if keep_raw else None,
                    n_file_traces=layout.n_traces, trace_coords=_trace_coords(layout, geom, fields, inline_byte, crossline_byte),
                    compression=compression,
                )
                store.write_trace_order(dst, geom.grid_index)
                store.create_block_log(dst, len(blocks), stats.ROW_LENGTH)
            lay, run = layout.to_dict(), uuid.uuid4().hex
            parts, hist, sha = _run_blocks(c, src, dst, segy_block_task,
                                           [(lay, dst, i, b, g2f[b], keep_raw, run) for i, b in enumerate(blocks)],
                                           progress, checksum, resume)
            survey = stats.merge(parts, hist)
            n_raw = sum(p["raw_traces"] for p in parts)
            store.finish(dst, stats=survey, source=_with_digest(source, sha), raw_traces=n_raw)
        return {"store": dst, "geometry": geom.kind, "shape": list(geom.grid_shape) + [ns], "traces": layout.n_traces,
                "blocks": len(blocks), "stats": survey, "raw_traces": n_raw, "notes": geom.notes}


# ---------------------------------------------------------------- HDF5


def hdf5_block_task(vol: dict, path: str, index: int, block: tuple[slice, ...], run: str) -> np.ndarray:
    """Worker: copy one grid block of an HDF5 volume into the store (all-zero traces are dead);
    returns its row of the block log."""
    v = hdf5_source.Hdf5Volume(**vol)
    data = hdf5_source.read_block(v, block)
    live = np.any(data != 0, axis=-1)
    if live.any():  # an all-zero block keeps the fill value: nothing to write
        store.writable(path, "amplitude", run)[block] = data
    return _mask_and_log(path, index, block, live, stats.block_stats(data[live]), run)


def _mask_and_log(path: str, index: int, block: tuple[slice, ...], live: np.ndarray, part: dict, run: str) -> np.ndarray:
    """A block task's last writes: its trace mask, then its row in the block log (it is done),
    which it returns. ``part``: the block's statistics, with its count of raw traces (default 0)."""
    store.writable(path, "trace_mask", run)[block] = live
    row = stats.to_row(dict(part, raw_traces=part.get("raw_traces", 0)))
    store.write_block_row(path, index, row, run)
    return row


def convert_hdf5(
    src: str,
    dst: str,
    *,
    dataset: str | None = None,
    axes: str | None = None,
    sample_interval: float = 4.0,
    sample_units: str = "ms",
    client: Client | None = None,
    chunks: tuple[int, ...] | None = None,
    overwrite: bool = False,
    progress: engine.Progress | None = None,
    workers: int | None = None,
    checksum: bool | None = None,
    compression: str | None = None,
) -> dict[str, Any]:
    """Convert a 2D or 3D HDF5 dataset into a new store at ``dst`` (``checksum`` and
    ``compression`` as for :func:`convert_segy`)."""
    src, dst = os.fspath(src), os.fspath(dst)
    vol = hdf5_source.open_volume(src, dataset, axes)
    shape = vol.store_shape
    dims = vol.dims
    chunks = chunks or store.default_chunks(dims, shape[-1])
    if len(chunks) != len(shape):
        raise SeisbatchError(src, f"--chunks needs {len(shape)} sizes for this dataset")
    axes_values = {d: np.arange(n, dtype=np.int64) for d, n in zip(dims, shape[:-1])}
    source = dict(store.source_id(src), format="hdf5", dataset=vol.dataset, axes=list(vol.axes))
    compression = store.compression_name(compression)  # checked before anything is written
    options = {"chunks": list(chunks), "sample_interval": sample_interval, "sample_units": sample_units,
               "compression": compression}
    attrs = {
        "geometry": {"kind": "3d" if len(dims) == 2 else "2d", "dims": list(dims), "notes": []},
        "source": source,
        "sample_interval": sample_interval,
        "sample_units": sample_units,
        "convert_options": options,
    }
    blocks = plan_blocks(shape[:-1], chunks[:-1])
    vol_dict = {"path": vol.path, "dataset": vol.dataset, "shape": vol.shape, "axes": vol.axes}
    with locking.store_lock(dst):
        resume = _start_or_resume(src, dst, overwrite, source, options, len(blocks))
        if not resume:
            store.create(
                dst, dims=dims, axes=axes_values, samples=sample_interval * np.arange(shape[-1]),
                sample_units=sample_units, chunks=chunks, attrs=attrs, with_headers=False, with_raw_samples=None,
                n_file_traces=int(np.prod(shape[:-1])), compression=compression,
            )
            store.write_trace_order(dst, np.arange(int(np.prod(shape[:-1])), dtype=np.int64))
            store.create_block_log(dst, len(blocks), stats.ROW_LENGTH)
        with engine.maybe_client(client, workers=workers) as c:
            run = uuid.uuid4().hex
            parts, hist, sha = _run_blocks(c, src, dst, hdf5_block_task,
                                           [(vol_dict, dst, i, b, run) for i, b in enumerate(blocks)], progress, checksum,
                                           resume)
        survey = stats.merge(parts, hist)
        store.finish(dst, stats=survey, source=_with_digest(source, sha))
    return {"store": dst, "geometry": attrs["geometry"]["kind"], "shape": list(shape), "traces": int(np.prod(shape[:-1])),
            "blocks": len(blocks), "stats": survey, "raw_traces": 0, "notes": []}


# ---------------------------------------------------------------- MDIO v1


def mdio_block_task(vol: dict, path: str, index: int, block: tuple[slice, ...], slab: int, endian: str | None,
                    run: str) -> np.ndarray:
    """Worker: copy one grid block of an MDIO v1 store (every sample, ``slab`` samples at a time)
    and its trace headers into the store, then log it done; returns its row of the log."""
    v = mdio_source.MdioVolume(**vol)
    live = mdio_source.read_mask(v, block)
    parts = []
    if live.any():  # a block without traces keeps the fill values: nothing to write
        amp = store.writable(path, "amplitude", run)
        for s in range(0, v.shape[-1], slab):
            data = mdio_source.read_block(v, block, slice(s, s + slab), live)
            amp[block + (slice(s, s + slab),)] = data
            parts.append(stats.block_stats(data[live]))
        if endian is not None:
            store.writable(path, "raw_headers", run)[block] = mdio_source.read_headers(v, block, endian)
    return _mask_and_log(path, index, block, live,
                         stats.combine(parts) if parts else stats.block_stats(np.zeros(0, np.float32)), run)


def convert_mdio(
    src: str,
    dst: str,
    *,
    client: Client | None = None,
    chunks: tuple[int, ...] | None = None,
    overwrite: bool = False,
    progress: engine.Progress | None = None,
    workers: int | None = None,
    compression: str | None = None,
) -> dict[str, Any]:
    """Convert an MDIO v1 store (post-stack 3D or 2D) into a new store at ``dst``. The trace headers
    and, where MDIO kept them, the file headers come along, so ``export`` writes a SEG-Y back."""
    src, dst = os.fspath(src), os.fspath(dst)
    vol = mdio_source.open_volume(src)
    dims, ns = vol.store_dims, vol.shape[-1]
    chunks = chunks or store.default_chunks(dims, ns)
    if len(chunks) != len(vol.shape):
        raise SeisbatchError(src, f"--chunks needs {len(vol.shape)} sizes for this store")
    compression = store.compression_name(compression)  # checked before anything is written
    grid_axes, samples, coords = mdio_source.axes(vol)
    mask = mdio_source.read_mask(vol)
    text, binary = mdio_source.file_headers(vol)
    notes = [f"from an MDIO {vol.api_version} store ({vol.variable} on {', '.join(vol.dims + (vol.sample_dim,))})"]
    units = mdio_source.SAMPLE_DIMS[vol.sample_dim]
    dt = float(samples[1] - samples[0]) if ns > 1 else 4.0
    dt_us = int(round(dt * 1000))
    if binary is not None:
        fmt, endian = mdio_source.binary_format(binary, src)
    else:
        fmt, endian = 5, "big"
        notes.append("binary header made up (the MDIO store kept none): IEEE float, big-endian")
    if text is None:
        text = segy_writer.file_header(ns, dt_us, f"FROM MDIO STORE {os.path.basename(src)}")[0]
        notes.append("textual header made up (the MDIO store kept none)")
    if binary is None:
        binary = segy_writer.file_header(ns, dt_us, "", fmt, endian)[1]
    with_headers = mdio_source.has_headers(vol)
    if not with_headers:
        notes.append("trace headers made up at export (the MDIO store has neither raw nor standard headers)")
    elif mask.any() and ns:
        delay = mdio_source.recording_delay(vol, mask, endian)
        if delay != samples[0]:
            notes.append(f"the trace headers give a {delay} {units} recording delay; MDIO's {vol.sample_dim} axis, "
                         f"kept as the sample axis, starts at {samples[0]:g} {units}")
    n_live = int(mask.sum())
    source = dict(store.source_id(src), format="mdio", variable=vol.variable)
    options = {"chunks": list(chunks), "compression": compression}
    attrs = {
        "geometry": {"kind": "3d" if len(dims) == 2 else "2d", "dims": list(dims), "notes": notes},
        "source": source,
        "segy": {
            "path": src, "endian": endian, "format": fmt, "n_samples": ns, "sample_interval_us": dt_us,
            "delay_ms": int(samples[0]) if ns else 0, "n_ext_headers": 0, "n_traces": n_live,
            "file_size": 3600 + n_live * (240 + ns * sample_size(fmt)),
            "format_name": SAMPLE_FORMATS[fmt][1],
            "text_header": store.b64(text), "binary_header": store.b64(binary), "ext_headers": [],
        },
        "sample_interval": dt,
        "sample_units": units,
        "convert_options": options,
    }
    # blocks cover whole MDIO chunks where they can, so each MDIO chunk is decoded about once
    block_grid = tuple(min(n, -(-m // c) * c) for n, m, c in zip(vol.shape[:-1], vol.chunks[:-1], chunks[:-1]))
    blocks = plan_blocks(vol.shape[:-1], block_grid)
    vol_dict = {"path": vol.path, "variable": vol.variable, "api_version": vol.api_version, "dims": vol.dims,
                "sample_dim": vol.sample_dim, "shape": vol.shape, "chunks": vol.chunks}
    with locking.store_lock(dst):
        resume = _start_or_resume(src, dst, overwrite, source, options, len(blocks))
        if not resume:
            store.create(
                dst, dims=dims, axes=grid_axes, samples=samples, sample_units=units, chunks=chunks, attrs=attrs,
                with_headers=with_headers, with_raw_samples=None, n_file_traces=n_live, trace_coords=coords,
                compression=compression,
            )
            store.write_trace_order(dst, np.flatnonzero(mask.ravel()))  # MDIO keeps no file order: grid order
            store.create_block_log(dst, len(blocks), stats.ROW_LENGTH)
        with engine.maybe_client(client, workers=workers) as c:
            run = uuid.uuid4().hex
            args = [(vol_dict, dst, i, b, chunks[-1], endian if with_headers else None, run) for i, b in enumerate(blocks)]
            parts, hist, _ = _run_blocks(c, src, dst, mdio_block_task, args, progress, False, resume)
        survey = stats.merge(parts, hist)
        store.finish(dst, stats=survey, source=source)
    return {"store": dst, "geometry": attrs["geometry"]["kind"], "shape": list(vol.shape), "traces": n_live,
            "blocks": len(blocks), "stats": survey, "raw_traces": 0, "notes": notes}
