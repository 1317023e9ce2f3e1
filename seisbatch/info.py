"""What is in a store, a SEG-Y file or an HDF5 file: geometry, sampling, statistics, arrays and
whether each output is complete. Returns plain dicts; the CLI formats them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import h5py
import numpy as np

from . import geometry, hdf5_source, mdio_source, segy_reader, store
from .segy_format import SAMPLE_FORMATS, TH_CROSSLINE, TH_INLINE


def describe(path: str, inline_byte: int = TH_INLINE, crossline_byte: int = TH_CROSSLINE,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Describe whatever ``path`` is; ``progress(traces, total)`` follows a SEG-Y file's header
    scan, which reads every trace header (minutes for a survey of hundreds of GB)."""
    from .sources import kind

    path = os.fspath(path)
    what = kind(path)
    if what == "segy":
        return describe_segy(path, inline_byte, crossline_byte, progress)
    return {"mdio": describe_mdio, "store": describe_store, "hdf5": describe_hdf5}[what](path)


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


def describe_segy(path: str, inline_byte: int = TH_INLINE, crossline_byte: int = TH_CROSSLINE,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    layout = segy_reader.scan(path)
    fields = segy_reader.read_header_fields(layout, [inline_byte, crossline_byte], progress=progress)
    geom = geometry.detect(fields[inline_byte], fields[crossline_byte], "auto", path)
    text, _, _ = segy_reader.read_file_header(layout)
    return {
        "kind": "segy",
        "path": path,
        "geometry": {"kind": geom.kind, "dims": list(geom.dims), "notes": geom.notes},
        "dims": dict(zip(list(geom.dims) + ["sample"], list(geom.grid_shape) + [layout.n_samples])),
        "traces": layout.n_traces,
        "format": f"{layout.format} ({SAMPLE_FORMATS[layout.format][1]})",
        "endian": layout.endian,
        "sample_interval": layout.sample_interval_us / 1000.0,
        "sample_units": "ms",
        "extended_headers": layout.n_ext_headers,
        "inline_range": [int(fields[inline_byte].min()), int(fields[inline_byte].max())],
        "crossline_range": [int(fields[crossline_byte].min()), int(fields[crossline_byte].max())],
        "text_header": decode_text(text),
    }


def decode_text(raw: bytes) -> str:
    """Textual header as text: EBCDIC (cp037) unless it is plainly ASCII."""
    ascii_like = sum(32 <= b < 127 for b in raw) > 0.9 * len(raw)
    text = raw.decode("ascii", "replace") if ascii_like else raw.decode("cp037", "replace")
    return "\n".join(text[i : i + 80].rstrip() for i in range(0, len(text), 80))


def describe_mdio(path: str) -> dict[str, Any]:
    """What `convert` would take from an MDIO v1 store."""
    vol = mdio_source.open_volume(path)
    _, samples, _ = mdio_source.axes(vol)
    text, binary = mdio_source.file_headers(vol)
    return {
        "kind": "mdio", "path": path, "api_version": vol.api_version, "variable": vol.variable,
        "dims": dict(zip(vol.dims + (vol.sample_dim,), vol.shape)), "chunks": list(vol.chunks),
        "sample_range": [float(samples[0]), float(samples[-1])] if len(samples) else [],
        "sample_units": mdio_source.SAMPLE_DIMS[vol.sample_dim],
        "live_traces": int(mdio_source.read_mask(vol).sum()),
        "trace_headers": mdio_source.has_headers(vol), "text_header": text is not None, "binary_header": binary is not None,
    }


def describe_hdf5(path: str) -> dict[str, Any]:
    found = hdf5_source.datasets(path)
    out = {"kind": "hdf5", "path": path, "datasets": {k: list(v) for k, v in found.items()}}
    patches = {k: v for k, v in found.items() if hdf5_source.is_patch_layout(v)}
    if patches:
        out["patches"] = {k: {"count": v[0], "size": list(v[1:3])} for k, v in patches.items()}
    with h5py.File(path, "r") as f:
        out["dtypes"] = {k: str(f[k].dtype) for k in found}
        for k in found:
            if len(found[k]) in (2, 3) and 0 < f[k].size <= 1 << 22 and hdf5_source.is_numeric(f[k].dtype):
                data = np.asarray(f[k], dtype=np.float64)
                out.setdefault("stats", {})[k] = {"min": float(data.min()), "max": float(data.max()), "rms": float(np.sqrt((data**2).mean()))}
    return out
