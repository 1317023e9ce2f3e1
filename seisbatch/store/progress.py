"""Progress of the jobs that write a store, kept in the store itself so a killed job resumes:

- a conversion's block log (a row per block: done flag and the block's statistics), the arrays
  its tasks write (opened once per worker), and the completion that ends it;
- an output's done flags (``<output>_done``, one per block), for ``denoise``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

from .codecs import use_codec_pipeline
from .layout import consolidate, meta, same_source, update_meta
from .paths import is_store


BLOCK_LOG = "_convert_blocks"  # exists only while a conversion is unfinished


def create_block_log(path: str, n_blocks: int, row_length: int) -> None:
    """One row per conversion block, written by the block's task after its data: column 0 is 1
    when the block is done, the rest its partial statistics, so a resumed conversion needs only
    the missing blocks and still gets survey statistics over all of them."""
    zarr.open_group(path, mode="r+").create_array(
        BLOCK_LOG, shape=(n_blocks, 1 + row_length), chunks=(1, 1 + row_length), dtype="float64", fill_value=0.0)


def write_block_row(path: str, index: int, row: np.ndarray, run: str | None = None) -> None:
    """Log block ``index`` done: the done flag, then its statistics (through :func:`writable`
    when a conversion ``run`` is given)."""
    arr = writable(path, BLOCK_LOG, run) if run else zarr.open_array(store=path, path=BLOCK_LOG, mode="r+")
    arr[index] = np.concatenate([[1.0], row])


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


def read_block_log(path: str) -> list[np.ndarray | None]:
    """Each block's row, None where it is not done (or its row cannot be read back whole)."""
    arr = zarr.open_array(store=path, path=BLOCK_LOG, mode="r")
    try:
        rows = list(arr[:])  # one read of every chunk, the usual case
    except Exception:  # a row torn by a killed process: read row by row, the torn one counts as not done
        rows = []
        for i in range(arr.shape[0]):
            try:
                rows.append(arr[i])
            except Exception:
                rows.append(None)
    return [r[1:] if r is not None and r[0] == 1.0 else None for r in rows]


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
    root = zarr.open_group(path, mode="r+")
    if BLOCK_LOG in root:
        del root[BLOCK_LOG]
    update_meta(path, state="complete", **changes)
    consolidate(path)


DONE_SUFFIX = "_done"


def done_flags_name(output: str) -> str:
    """The array of ``output``'s done flags."""
    return output + DONE_SUFFIX


def create_done_flags(root: zarr.Group, output: str, n_blocks: int) -> None:
    root.create_array(done_flags_name(output), shape=(n_blocks,), chunks=(1,), dtype="uint8", fill_value=0,
                      dimension_names=[output + "_task"], overwrite=True,
                      attributes={"description": f"1 where the block of {output!r} is written"})


def mark_done(path: str, output: str, index: int) -> None:
    """Block ``index`` of ``output`` is written (its task's last write)."""
    zarr.open_array(store=path, path=done_flags_name(output), mode="r+")[index] = 1


def read_done_flags(root: zarr.Group, output: str, n_blocks: int | None = None) -> np.ndarray | None:
    """``output``'s done flags, or None where it has none (or ``n_blocks`` differs: another plan)."""
    name = done_flags_name(output)
    if name not in root or (n_blocks is not None and root[name].shape != (n_blocks,)):
        return None
    return root[name][:]
