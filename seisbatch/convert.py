"""SEG-Y, HDF5 and MDIO -> seisbatch store, in parallel on Dask: one driver for every source.

The source (``seisbatch.sources``) reads what the client needs and describes the store; the driver
then takes the store's lock, starts or resumes, writes the metadata-only store, and runs one task
per chunk-aligned block of the trace grid, each writing amplitude, headers and mask for its block
directly into the store and returning only small statistics. Peak memory is a few blocks,
whatever the file size. The store is marked complete only after every block is written.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
from distributed import Client

from . import config, engine, locking, sources, stats, store
from .errors import SeisbatchError
from .sources import Template
from .sources import hdf5 as hdf5_src
from .sources import mdio as mdio_src
from .sources import segy as segy_src
from .specs import GEOMETRIES, SAMPLE_UNITS, ConvertSpec  # noqa: F401  (convert's settings, importable here)


def file_digest(path: str, chunk: int = 1 << 22) -> str:
    """sha256 of a file, to tie a store to the exact file it came from."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()


def convert(src: str, dst: str, spec: ConvertSpec, **run_args: Any) -> dict[str, Any]:
    """Convert whatever ``src`` is (SEG-Y, HDF5 or MDIO v1: :func:`sources.open_source`) into a new
    store at ``dst``; returns a summary. ``run_args``: those of :func:`convert_source`."""
    return convert_source(sources.open_source(os.fspath(src), spec), dst, spec, **run_args)


def convert_source(source: sources.Source, dst: str, spec: ConvertSpec, *, client: Client | None = None,
                   workers: int | None = None, overwrite: bool = False, progress: engine.Progress | None = None,
                   scan_progress: engine.Progress | None = None) -> dict[str, Any]:
    """Convert an opened ``source`` (:func:`sources.open_source`). ``spec.checksum`` (default: setting ``seisbatch.convert.checksum``) also records the file's
    sha256; ``progress`` follows the blocks and ``scan_progress`` the pieces of a SEG-Y header scan
    (when the workers share it)."""
    source.check()  # before anything is started or written
    return run(source.path, os.fspath(dst), lambda c: source.template(c, scan_progress), client=client,
               workers=workers, overwrite=overwrite, progress=progress, checksum=spec.checksum)


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
    rows = (store.read_blocks(dst, store.CONVERSION) if resume else None) or [None] * len(args)
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
        if store.read_blocks(dst, store.CONVERSION, n_blocks) is not None:
            return True
        overwrite = True  # stopped while its template was written: nothing finished to lose
    store.prepare_output(dst, overwrite, inputs=(src,), kind="store")
    return False


def run(src: str, dst: str, template: Callable[[Client], Template], *, client: Client | None, workers: int | None,
        overwrite: bool, progress: engine.Progress | None, checksum: bool | None) -> dict[str, Any]:
    """Every conversion: client, the source's template, lock, start or resume, the metadata-only
    store, the blocks, the survey statistics, then the store marked complete; returns a summary."""
    store.check_folder(dst)  # before any cluster starts
    with engine.maybe_client(client, workers=workers) as c:
        t = template(c)
        with locking.store_lock(dst):
            resume = _start_or_resume(src, dst, overwrite, t.source, t.options, len(t.blocks))
            if not resume:
                store.create(dst, **t.create)
                store.write_trace_order(dst, t.trace_order)
                store.start_blocks(dst, store.CONVERSION, len(t.blocks), stats.ROW_LENGTH)
            parts, hist, sha = _run_blocks(c, src, dst, t.task, t.task_args(dst, uuid.uuid4().hex), progress,
                                           checksum if t.checksum else False, resume)
            survey = stats.merge(parts, hist)
            n_raw = sum(p.get("raw_traces", 0) for p in parts)
            store.finish(dst, stats=survey, source=_with_digest(t.source, sha),
                         **({"raw_traces": n_raw} if t.raw_traces else {}))
    return {"store": dst, **t.summary, "blocks": len(t.blocks), "stats": survey, "raw_traces": n_raw}


def convert_segy(src: str, dst: str, *, geometry_kind: str = "auto", **kwargs: Any) -> dict[str, Any]:
    """:func:`convert` of a SEG-Y file; ``kwargs``: those of :func:`convert` and :class:`ConvertSpec`."""
    return _convert_as(segy_src.SegySource, src, dst, dict(kwargs, geometry=geometry_kind))


def convert_hdf5(src: str, dst: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`convert` of a 2D or 3D HDF5 dataset (``dataset``, ``axes``, ``sample_interval`` pick it)."""
    return _convert_as(hdf5_src.Hdf5Source, src, dst, kwargs)


def convert_mdio(src: str, dst: str, **kwargs: Any) -> dict[str, Any]:
    """:func:`convert` of an MDIO v1 store (post-stack 3D or 2D). The trace headers and, where MDIO
    kept them, the file headers come along, so ``export`` writes a SEG-Y back."""
    return _convert_as(mdio_src.MdioSource, src, dst, kwargs)


_RUN_ARGS = ("client", "workers", "overwrite", "progress", "scan_progress")


def _convert_as(cls: type, src: str, dst: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """One format's conversion, the format known: ``kwargs`` split into the spec and the run's."""
    run_args = {k: kwargs.pop(k) for k in _RUN_ARGS if k in kwargs}
    spec = ConvertSpec(**kwargs)
    return convert_source(cls(os.fspath(src), spec), dst, spec, **run_args)
