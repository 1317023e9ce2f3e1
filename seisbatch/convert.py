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
from dataclasses import dataclass
from typing import Any

import numpy as np
from distributed import Client

from . import config, engine, hdf5_source, locking, mdio_source, segy_reader, stats, store
from .errors import SeisbatchError
from .segy_format import TH_CROSSLINE, TH_INLINE
from .sources import Template
from .sources import hdf5 as hdf5_src
from .sources import mdio as mdio_src
from .sources import segy as segy_src


def file_digest(path: str, chunk: int = 1 << 22) -> str:
    """sha256 of a file, to tie a store to the exact file it came from."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while data := fh.read(chunk):
            h.update(data)
    return h.hexdigest()


GEOMETRIES = ("auto", "3d", "2d", "traces")
SAMPLE_UNITS = ("ms", "m", "ft")


@dataclass(frozen=True)
class ConvertSpec:
    """The options of ``seisbatch convert``, every value checked when built, before any cluster
    starts; ``compression`` defaults to the setting, ``checksum`` None means the setting (SEG-Y and
    HDF5; asking for it on an MDIO store is an error)."""

    chunks: tuple[int, ...] | None = None  # None: settings convert.chunks-3d / chunks-2d
    compression: str | None = None
    checksum: bool | None = None
    geometry: str = "auto"  # SEG-Y
    endian: str | None = None  # SEG-Y: None detects it
    inline_byte: int = TH_INLINE
    crossline_byte: int = TH_CROSSLINE
    sample_units: str = "ms"
    dataset: str | None = None  # HDF5
    axes: str | None = None  # HDF5
    sample_interval: float = 4.0  # HDF5

    def __post_init__(self) -> None:
        if self.chunks is not None and (not self.chunks or min(self.chunks) < 1):
            raise ValueError(f"--chunks sizes must be positive, got {','.join(map(str, self.chunks))}")
        object.__setattr__(self, "compression", store.compression_name(self.compression))
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}, not {self.geometry!r}")
        if self.endian not in (None, "big", "little"):
            raise ValueError(f"endian must be big or little, not {self.endian!r}")
        for name in ("inline_byte", "crossline_byte"):
            if not 1 <= getattr(self, name) <= 237:  # a 4-byte field inside the 240-byte trace header
                raise ValueError(f"--{name.replace('_', '-')} must lie in 1..237, not {getattr(self, name)}")
        if self.sample_units not in SAMPLE_UNITS:
            raise ValueError(f"sample units must be one of {', '.join(SAMPLE_UNITS)}, not {self.sample_units!r}")
        if not self.sample_interval > 0:
            raise ValueError(f"--sample-interval must be positive, not {self.sample_interval}")


def convert(src: str, dst: str, spec: ConvertSpec, *, client: Client | None = None, workers: int | None = None,
            overwrite: bool = False, progress: engine.Progress | None = None,
            scan_progress: engine.Progress | None = None) -> dict[str, Any]:
    """Convert whatever ``src`` is (SEG-Y, HDF5 or MDIO v1, told apart by :func:`sources.kind`)."""
    from . import sources

    src = os.fspath(src)
    what = sources.kind(src) if os.path.exists(src) else "segy"  # the SEG-Y reader names a missing file
    common = dict(client=client, workers=workers, chunks=spec.chunks, overwrite=overwrite, progress=progress,
                  compression=spec.compression)
    if what == "mdio":
        if spec.checksum:
            raise SeisbatchError(src, "--checksum is for SEG-Y and HDF5 files; an MDIO store is a directory")
        return convert_mdio(src, dst, **common)
    if what == "hdf5":
        return convert_hdf5(src, dst, dataset=spec.dataset, axes=spec.axes, sample_interval=spec.sample_interval,
                            sample_units=spec.sample_units, checksum=spec.checksum, **common)
    return convert_segy(src, dst, inline_byte=spec.inline_byte, crossline_byte=spec.crossline_byte,
                        geometry_kind=spec.geometry, endian=spec.endian, sample_units=spec.sample_units,
                        checksum=spec.checksum, scan_progress=scan_progress, **common)


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
                store.create_block_log(dst, len(t.blocks), stats.ROW_LENGTH)
            parts, hist, sha = _run_blocks(c, src, dst, t.task, t.task_args(dst, uuid.uuid4().hex), progress,
                                           checksum if t.checksum else False, resume)
            survey = stats.merge(parts, hist)
            n_raw = sum(p.get("raw_traces", 0) for p in parts)
            store.finish(dst, stats=survey, source=_with_digest(t.source, sha),
                         **({"raw_traces": n_raw} if t.raw_traces else {}))
    return {"store": dst, **t.summary, "blocks": len(t.blocks), "stats": survey, "raw_traces": n_raw}


def convert_segy(
    src: str,
    dst: str,
    *,
    client: Client | None = None,
    inline_byte: int = TH_INLINE,
    crossline_byte: int = TH_CROSSLINE,
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
    layout = segy_reader.scan(src, endian)  # checked before anything is started or written
    compression = store.compression_name(compression)
    return run(src, dst, lambda c: segy_src.template(
        src, layout, c, inline_byte=inline_byte, crossline_byte=crossline_byte, geometry_kind=geometry_kind,
        chunks=chunks, sample_units=sample_units, compression=compression, scan_progress=scan_progress),
        client=client, workers=workers, overwrite=overwrite, progress=progress, checksum=checksum)


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
    vol = hdf5_source.open_volume(src, dataset, axes)  # checked before anything is started or written
    compression = store.compression_name(compression)
    t = hdf5_src.template(src, vol, sample_interval=sample_interval, sample_units=sample_units, chunks=chunks,
                          compression=compression)
    return run(src, dst, lambda c: t, client=client, workers=workers, overwrite=overwrite, progress=progress,
               checksum=checksum)


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
    vol = mdio_source.open_volume(src)  # checked before anything is started or written
    compression = store.compression_name(compression)
    t = mdio_src.template(src, vol, chunks=chunks, compression=compression)
    return run(src, dst, lambda c: t, client=client, workers=workers, overwrite=overwrite, progress=progress,
               checksum=False)
