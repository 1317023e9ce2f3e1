"""Block progress, kept beside what a job writes so that a killed job resumes with only the
blocks it had not finished. One format for every job:

- ``_progress/<job>`` in a Zarr group: one float64 row per block, written by the block's task
  after its data; column 0 is 1 when the block is done, the rest (``row_length`` values, none
  for most jobs) what the task wants kept, such as a conversion block's partial statistics;
- jobs: ``convert`` (:data:`CONVERSION`, in the store it fills), ``denoise`` (one job per output
  array, named after it, in the store), ``export`` (in a small group beside ``OUT.partial``, as the
  store it reads is never written).

Also here: the arrays a conversion's tasks write (opened once per worker), and the completion
that ends a conversion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

from .codecs import use_codec_pipeline
from .layout import consolidate, meta, same_source, update_meta
from .paths import is_store

GROUP = "_progress"
CONVERSION = "_convert"  # the conversion's job: no output array can be named so (they start with a letter)


def _name(job: str) -> str:
    return f"{GROUP}/{job}"


def start_blocks(path: str, job: str, n_blocks: int, row_length: int = 0) -> None:
    """A fresh progress log of ``n_blocks`` blocks for ``job`` in the group at ``path`` (replacing
    an older one)."""
    width = 1 + row_length
    zarr.open_group(path, mode="r+").create_array(
        _name(job), shape=(n_blocks, width), chunks=(1, width), dtype="float64", fill_value=0.0, overwrite=True,
        attributes={"description": f"progress of {job!r}: column 0 is 1 where the block is done"})


def mark_done(path: str, job: str, index: int, row: np.ndarray | None = None, run: str | None = None) -> None:
    """Block ``index`` of ``job`` is done (its task's last write), with its ``row`` of values. With
    ``run`` (unique to one call of the job) the log is opened once per worker (:func:`writable`)."""
    arr = writable(path, _name(job), run) if run else zarr.open_array(store=path, path=_name(job), mode="r+")
    arr[index] = np.concatenate([[1.0], [] if row is None else row])


def read_blocks(path: str, job: str, n_blocks: int | None = None) -> list[np.ndarray | None] | None:
    """Each block's row (without the done flag), None where it is not done or its row cannot be
    read back whole (torn by a killed process); None for a job with no log, or one of another
    number of blocks than ``n_blocks`` (another plan)."""
    try:
        arr = zarr.open_array(store=path, path=_name(job), mode="r")
    except (FileNotFoundError, KeyError):
        return None
    if n_blocks is not None and arr.shape[0] != n_blocks:
        return None
    try:
        rows = list(arr[:])  # one read of every chunk, the usual case
    except Exception:  # a torn row: read row by row, the torn one counts as not done
        rows = []
        for i in range(arr.shape[0]):
            try:
                rows.append(arr[i])
            except Exception:
                rows.append(None)
    return [r[1:] if r is not None and r[0] == 1.0 else None for r in rows]


def done_mask(path: str, job: str, n_blocks: int | None = None) -> np.ndarray | None:
    """Which blocks of ``job`` are done (bool per block), or None as for :func:`read_blocks`."""
    rows = read_blocks(path, job, n_blocks)
    return None if rows is None else np.array([r is not None for r in rows], dtype=bool)


def clear_blocks(path: str, job: str) -> None:
    """Remove ``job``'s log (the job is complete), and the progress group once it is empty."""
    root = zarr.open_group(path, mode="r+", use_consolidated=False)
    if GROUP not in root:
        return
    group = root[GROUP]
    if job in group:
        del group[job]
    if not list(group.keys()):
        del root[GROUP]


_WRITABLE: dict[tuple[str, str, str], zarr.Array] = {}


def writable(path: str, name: str, run: str) -> zarr.Array:
    """Array ``name`` of the store being written at ``path``, opened once per worker process and
    run (``run`` is unique to one convert call, so a store replaced later is opened afresh): each
    open reads and parses the array's metadata, ~1.5 ms, several times per block otherwise.

    Every chunk given to it is written, even one equal to the fill value: zarr's check for that
    costs ~1 ms per 2 MiB chunk, a quarter of a conversion block's time, and the converters know
    better and for free which blocks hold no trace (they skip those, leaving the fill value)."""
    key = (path, name, run)
    arr = _WRITABLE.get(key)
    if arr is None:
        use_codec_pipeline()  # the setting may have changed since this module was imported
        if len(_WRITABLE) >= 64:
            _WRITABLE.clear()
        arr = zarr.open_array(store=path, path=name, mode="r+").with_config({"write_empty_chunks": True})
        _WRITABLE[key] = arr
    return arr


def unfinished_conversion(path: str, source: dict, options: dict) -> zarr.Group | None:
    """The store at ``path`` when it is an unfinished conversion of the same file (path, size,
    modification time) with the same options; else None."""
    if not is_store(path):
        return None
    try:
        root = zarr.open_group(path, mode="r")
        m = meta(root)
    except Exception:
        return None
    if (m.get("state") == "converting" and m.get("convert_options") == options
            and same_source(m.get("source", {}), source)):
        return root
    return None


def finish(path: str, **changes: Any) -> None:
    """Mark the store complete (last step of a conversion) and consolidate its metadata."""
    clear_blocks(path, CONVERSION)
    update_meta(path, state="complete", **changes)
    consolidate(path)
