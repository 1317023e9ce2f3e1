"""MDIO v1 input (TGS's Zarr layout for seismic): recognise a store, check its variable and axes,
and read blocks of amplitudes, trace mask and 240-byte trace headers in seisbatch's store order.

MDIO v1 keeps amplitudes as float32 on (inline, crossline, time|depth) or (cdp|trace, time|depth),
or, pre-stack, on CDP-offset gathers (inline, crossline, offset | cdp, offset, time|depth) and
shot gathers (shot_point, channel, time|depth),
dead traces as NaN under a ``trace_mask``, and the trace headers as named fields (bytes 1-232 of
the standard header). Imported with ``MDIO__IMPORT__RAW_HEADERS`` and
``MDIO__IMPORT__SAVE_SEGY_FILE_HEADER`` it also keeps the 240 raw header bytes of every trace, the
textual header (as text) and the raw binary header. What the store does not hold cannot come
back: file headers are then made up, and sample values are those of float32.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

import numpy as np
import zarr

from . import segy_reader
from .errors import SeisbatchError
from .segy_format import BINARY_SIZE, SAMPLE_FORMATS, TEXT_SIZE, TRACE_HEADER_SIZE

SAMPLE_DIMS = {"time": "ms", "depth": "m"}  # MDIO's vertical axis names -> seisbatch's sample units
GATHERS = {("inline", "crossline", "offset"): "cmp3d", ("cdp", "offset"): "cmp2d", ("shot_point", "channel"): "shot"}
STANDARD_HEADER_BYTES = 232  # MDIO's parsed standard fields cover bytes 1-232 in order


@dataclass(frozen=True)
class MdioVolume:
    path: str
    variable: str
    api_version: str
    dims: tuple[str, ...]  # MDIO's own names of the trace-grid axes
    sample_dim: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]

    @property
    def kind(self) -> str:
        """The geometry: 3d, 2d, or a gather layout (cmp3d, cmp2d, shot)."""
        return GATHERS.get(self.dims) or ("3d" if len(self.dims) == 2 else "2d")

    @property
    def store_dims(self) -> tuple[str, ...]:
        """seisbatch's names of the trace-grid axes (a gather layout keeps MDIO's)."""
        if self.dims in GATHERS:
            return self.dims
        return ("inline", "crossline") if len(self.dims) == 2 else ("trace",)


def is_mdio(path: str | os.PathLike) -> bool:
    """A local Zarr v3 group whose attributes name an MDIO API version."""
    meta = os.path.join(os.fspath(path), "zarr.json")
    if not os.path.isfile(meta):
        return False
    try:
        with open(meta) as fh:
            return "apiVersion" in json.load(fh).get("attributes", {})
    except (OSError, ValueError):
        return False


def open_volume(path: str) -> MdioVolume:
    """Check the store and its default variable, with a clear error for what seisbatch cannot hold."""
    path = os.fspath(path)
    root = zarr.open_group(path, mode="r")
    attrs = dict(root.attrs)
    version = str(attrs.get("apiVersion", "?"))
    if not version.startswith("1."):
        raise SeisbatchError(path, f"MDIO {version} store: only MDIO v1 stores (apiVersion 1.x) can be read")
    variable = str(attrs.get("attributes", {}).get("defaultVariableName", "amplitude"))
    if variable not in root or "trace_mask" not in root:
        raise SeisbatchError(path, f"MDIO store without its variable {variable!r} or a trace_mask")
    arr = root[variable]
    names = tuple(arr.metadata.dimension_names or ())
    if names[-1] not in SAMPLE_DIMS or not (len(names) in (2, 3) or names[:-1] in GATHERS):
        raise SeisbatchError(path, f"MDIO variable {variable!r} has dims {names}: seisbatch reads post-stack 3D "
                                   "(inline, crossline, time|depth) and 2D (trace axis, time|depth) data, and gathers "
                                   "(inline, crossline, offset | cdp, offset | shot_point, channel, time|depth)")
    if len(names) == 3 and names[:-1] not in GATHERS and names[:2] != ("inline", "crossline"):
        raise SeisbatchError(path, f"MDIO variable {variable!r} has dims {names}; a 3D survey needs (inline, crossline, ...)")
    if names[-1] not in root or tuple(root[names[-1]].shape) != (arr.shape[-1],):
        raise SeisbatchError(path, f"MDIO store without its {names[-1]!r} axis values")
    if tuple(root["trace_mask"].shape) != tuple(arr.shape[:-1]):
        raise SeisbatchError(path, f"MDIO trace_mask of shape {root['trace_mask'].shape} does not match {variable!r} {arr.shape}")
    return MdioVolume(path, variable, version, names[:-1], names[-1], tuple(arr.shape), tuple(arr.chunks))


def file_headers(vol: MdioVolume) -> tuple[bytes | None, bytes | None]:
    """The textual header (EBCDIC, 3200 bytes) and binary header (400 bytes) MDIO kept, each None
    when it did not keep it."""
    root = zarr.open_group(vol.path, mode="r")
    if "segy_file_header" not in root:
        return None, None
    attrs = dict(root["segy_file_header"].attrs)
    text = None
    if attrs.get("textHeader"):
        lines = str(attrs["textHeader"]).splitlines()
        text = "".join(line[:80].ljust(80) for line in lines[:40]).ljust(TEXT_SIZE).encode("cp037", errors="replace")
    binary = base64.b64decode(attrs["rawBinaryHeader"]) if attrs.get("rawBinaryHeader") else None
    return text, binary if binary is not None and len(binary) == BINARY_SIZE else None


def binary_format(binary: bytes, path: str) -> tuple[int, str]:
    """Sample format code and byte order that a raw binary header states."""
    head = bytes(segy_reader.TEXT_SIZE) + binary  # positions counted from the file start
    endian = segy_reader.detect_endian(head, path)
    fmt = segy_reader._int(head, segy_reader.BIN_FORMAT, 2, endian)
    return (fmt, endian) if fmt in SAMPLE_FORMATS else (5, endian)


def has_headers(vol: MdioVolume) -> bool:
    """Whether 240-byte trace headers can be rebuilt: raw headers, or the standard parsed fields."""
    root = zarr.open_group(vol.path, mode="r")
    if "raw_headers" in root:
        return True
    return "headers" in root and root["headers"].dtype.itemsize == STANDARD_HEADER_BYTES


def read_block(vol: MdioVolume, grid: tuple[slice, ...], samples: slice, live: np.ndarray) -> np.ndarray:
    """float32 amplitudes of one block, dead traces (NaN in MDIO; ``live`` is the block's mask) as 0."""
    root = zarr.open_group(vol.path, mode="r")
    amp = np.asarray(root[vol.variable][grid + (samples,)], dtype=np.float32)
    amp[~live] = 0.0
    return amp


def read_mask(vol: MdioVolume, grid: tuple[slice, ...] | None = None) -> np.ndarray:
    root = zarr.open_group(vol.path, mode="r")
    return np.asarray(root["trace_mask"][grid if grid is not None else ...], dtype=bool)


def read_headers(vol: MdioVolume, grid: tuple[slice, ...], endian: str) -> np.ndarray:
    """(..., 240) uint8 trace headers: MDIO's raw bytes when kept, else its parsed standard fields
    packed back at their byte positions in ``endian`` order (bytes 233-240 zero)."""
    root = zarr.open_group(vol.path, mode="r")
    if "raw_headers" in root:
        raw = np.asarray(root["raw_headers"][grid])
        return raw.view(np.uint8).reshape(raw.shape + (TRACE_HEADER_SIZE,))
    parsed = np.asarray(root["headers"][grid])
    order = ">" if endian == "big" else "<"
    packed = parsed.astype(parsed.dtype.newbyteorder(order)).view(np.uint8).reshape(parsed.shape + (STANDARD_HEADER_BYTES,))
    out = np.zeros(parsed.shape + (TRACE_HEADER_SIZE,), dtype=np.uint8)
    out[..., :STANDARD_HEADER_BYTES] = packed
    return out


def recording_delay(vol: MdioVolume, mask: np.ndarray, endian: str) -> int:
    """Delay recording time (trace header bytes 109-110) of the first live trace."""
    first = tuple(slice(int(i), int(i) + 1) for i in np.argwhere(mask)[0])
    return segy_reader._int(read_headers(vol, first, endian).tobytes(), segy_reader.TH_DELAY, 2, endian)


def axes(vol: MdioVolume) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """Grid axis values under seisbatch's names, the sample axis (float64), and cdp_x/cdp_y on the
    grid where MDIO has them (a gather's coordinates repeated over its offsets)."""
    root = zarr.open_group(vol.path, mode="r")
    grid = {}
    for ours, theirs, n in zip(vol.store_dims, vol.dims, vol.shape):
        grid[ours] = np.asarray(root[theirs][:], dtype=np.int64) if theirs in root else np.arange(n, dtype=np.int64)
    samples = np.asarray(root[vol.sample_dim][:], dtype=np.float64)
    coords = {}
    for n in ("cdp_x", "cdp_y"):
        if n in root and tuple(root[n].metadata.dimension_names or ()) == vol.dims[: root[n].ndim]:
            v = np.asarray(root[n][:], dtype=np.float64)
            coords[n] = np.broadcast_to(v.reshape(v.shape + (1,) * (len(vol.dims) - v.ndim)), vol.shape[:-1]).copy()
    return grid, samples, coords
