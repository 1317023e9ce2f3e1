"""What is in a store (geometry, sampling, statistics, arrays and whether each output is complete)
or an input (each source describes its own format). Returns plain dicts; the CLI formats them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import store
from .segy_format import TH_CROSSLINE, TH_INLINE


def describe(path: str, inline_byte: int = TH_INLINE, crossline_byte: int = TH_CROSSLINE,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Describe whatever ``path`` is; ``progress(traces, total)`` follows a SEG-Y file's header
    scan, which reads every trace header (minutes for a survey of hundreds of GB)."""
    from . import sources
    from .sources import hdf5, mdio, segy

    path = os.fspath(path)
    what = sources.kind(path)
    if what == "segy":
        return segy.describe(path, inline_byte, crossline_byte, progress)
    return {"mdio": mdio.describe, "store": describe_store, "hdf5": hdf5.describe}[what](path)


def describe_store(path: str) -> dict[str, Any]:
    root = store.open_root(path)
    meta = store.meta(root)
    amp = root["amplitude"]
    dims = list(amp.metadata.dimension_names)
    state = meta.get("state", "complete")
    arrays = {}
    for name, arr in sorted(root.arrays()):
        entry: dict[str, Any] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "dims": list(arr.metadata.dimension_names or [])}
        own = dict(arr.attrs.get("seisbatch", {}))
        if name == "amplitude":
            entry["complete"] = state == "complete"
        elif own:
            entry["complete"] = bool(own.get("complete", False))
            entry["progress"] = own.get("progress")
            flags = store.read_done_flags(root, name)  # per-block completion flags: a running job's count
            if flags is not None:
                entry["progress"] = f"{int(flags.astype(bool).sum())}/{flags.size} blocks"
        arrays[name] = entry
    samples = root["sample"][:]
    mask = root["trace_mask"][:]
    return {
        "kind": "store",
        "path": path,
        "state": state,
        "geometry": meta.get("geometry", {}),
        "dims": dict(zip(dims, amp.shape)),
        "chunks": list(amp.chunks),
        "compression": store.codec_name(amp),
        "sample_interval": meta.get("sample_interval"),
        "sample_units": meta.get("sample_units", root["sample"].attrs.get("units", "ms")),
        "sample_range": [float(samples[0]), float(samples[-1])] if len(samples) else [],
        "live_traces": int(mask.sum()),
        "grid_traces": int(mask.size),
        "stats": meta.get("stats"),
        "source": meta.get("source"),
        "segy_format": meta.get("segy", {}).get("format_name"),
        "arrays": arrays,
    }
