"""What is in a store (geometry, sampling, statistics, arrays and whether each output is complete)
or an input (each source describes its own format). Returns plain dicts; the CLI formats them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import store
from .specs import ConvertSpec


def describe(path: str, options: ConvertSpec | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Describe whatever ``path`` is: a store, or an input as its source describes it (the same
    :func:`sources.open_source` as ``convert``, with ``options``: the inline and crossline bytes
    of a SEG-Y file). ``progress(traces, total)`` follows a SEG-Y file's header scan, which reads
    every trace header (minutes for a survey of hundreds of GB)."""
    from . import sources

    path = os.fspath(path)
    if sources.kind(path) == "store":
        return describe_store(path)
    return sources.open_source(path, options or ConvertSpec()).describe(progress)


def describe_store(path: str) -> dict[str, Any]:
    root = store.open_root(path)
    meta = store.meta(root)
    amp = root["amplitude"]
    dims = list(amp.metadata.dimension_names)
    state = meta.get("state", "complete")
    arrays = {}
    kept = [(f"{store.FILE}/{k}", a) for k, a in root[store.FILE].arrays()] if store.FILE in root else []
    for name, arr in sorted(list(root.arrays()) + kept):  # the survey's arrays, then file/'s bookkeeping
        entry: dict[str, Any] = {"shape": list(arr.shape), "dtype": str(arr.dtype), "dims": list(arr.metadata.dimension_names or [])}
        own = dict(arr.attrs.get("seisbatch", {}))
        if name == "amplitude":
            entry["complete"] = state == "complete"
        elif own:
            entry["complete"] = bool(own.get("complete", False))
            entry["progress"] = own.get("progress")
            flags = store.done_mask(path, name)  # a running or stopped job's count of blocks done
            if flags is not None:
                entry["progress"] = f"{int(flags.sum())}/{flags.size} blocks"
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
