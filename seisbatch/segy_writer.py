"""Building SEG-Y headers for data that has none (HDF5 input, generated surveys), and packing
records. Standard positions: inline 189, crossline 193, cdp x/y 181/185 with scalar 71, samples
115, interval 117, delay 109.
"""

from __future__ import annotations

import numpy as np

from .segy_format import (BIN_FORMAT, BIN_INTERVAL, BIN_SAMPLES, BINARY_SIZE, TEXT_SIZE, TH_CDP_X, TH_CDP_Y,
                          TH_CROSSLINE, TH_DELAY, TH_INLINE, TH_INTERVAL, TH_SAMPLES, TH_SCALCO, TRACE_HEADER_SIZE)


def put(headers: np.ndarray, byte: int, values: np.ndarray | int, size: int, endian: str) -> None:
    """Write ``values`` as ``size``-byte signed integers at 1-based ``byte`` of every header."""
    order = ">" if endian == "big" else "<"
    col = np.broadcast_to(np.asarray(values).astype(f"{order}i{size}"), (len(headers),))
    headers[:, byte - 1 : byte - 1 + size] = np.ascontiguousarray(col).view(np.uint8).reshape(-1, size)


def file_header(ns: int, dt_us: int, description: str, fmt: int = 5, endian: str = "big") -> tuple[bytes, bytes]:
    """EBCDIC textual header and binary header (SEG-Y rev 1, fixed-length traces)."""
    lines = [f"C{i + 1:2d} " for i in range(40)]
    lines[0] += "SEG-Y WRITTEN BY SEISBATCH"
    lines[1] += description[:76]
    lines[2] += f"SAMPLES {ns} INTERVAL {dt_us} US FORMAT {fmt} {endian.upper()}-ENDIAN"
    lines[3] += f"INLINE BYTE {TH_INLINE} CROSSLINE BYTE {TH_CROSSLINE} CDP X/Y {TH_CDP_X}/{TH_CDP_Y}"
    lines[39] += "END TEXTUAL HEADER"
    text = "".join(line[:80].ljust(80) for line in lines).encode("cp037")
    binary = bytearray(BINARY_SIZE)
    # sorting 1 (3255), SEG-Y revision 1.0 (3501), fixed-length traces (3503)
    for byte, value in ((BIN_INTERVAL, dt_us), (BIN_SAMPLES, ns), (BIN_FORMAT, fmt), (3255, 1), (3501, 0x0100), (3503, 1)):
        offset = byte - TEXT_SIZE - 1
        binary[offset : offset + 2] = int(value).to_bytes(2, endian)
    return text, bytes(binary)


def trace_headers(
    file_traces: np.ndarray,
    lines: dict[str, np.ndarray],
    ns: int,
    dt_us: int,
    delay: int,
    endian: str = "big",
    cdp_xy: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Trace headers with sequence numbers, sample count/interval/delay, line numbers, coordinates."""
    headers = np.zeros((len(file_traces), TRACE_HEADER_SIZE), dtype=np.uint8)
    for byte, size, value in ((1, 4, file_traces + 1), (5, 4, file_traces + 1), (TH_DELAY, 2, delay), (TH_SAMPLES, 2, ns), (TH_INTERVAL, 2, dt_us)):
        put(headers, byte, value, size, endian)
    if "inline" in lines:
        put(headers, TH_INLINE, lines["inline"], 4, endian)
        put(headers, TH_CROSSLINE, lines["crossline"], 4, endian)
        put(headers, 21, lines.get("cdp", file_traces + 1), 4, endian)
    else:
        put(headers, 21, lines["trace"] + 1, 4, endian)
    if cdp_xy is not None:
        put(headers, TH_SCALCO, -100, 2, endian)  # coordinates in centimetres
        put(headers, TH_CDP_X, np.rint(cdp_xy[0] * 100), 4, endian)
        put(headers, TH_CDP_Y, np.rint(cdp_xy[1] * 100), 4, endian)
    return headers


def records(headers: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Interleave (n, 240) headers and (n, ns) encoded samples into file-ready trace records."""
    out = np.empty(len(headers), dtype=[("h", "u1", (240,)), ("s", samples.dtype, (samples.shape[1],))])
    out["h"] = headers
    out["s"] = samples
    return out
