"""SEG-Y as a source: the header scan (shared by the workers for large files), the geometry, the
store template with every header kept, and the block task that copies traces into the grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from distributed import Client

from .. import config, domain, engine, geometry, segy_reader, stats, store
from ..segy_format import (BIN_MEASUREMENT, EXACT_IN_FLOAT32, SAMPLE_FORMATS, TEXT_SIZE, TH_CDP_X, TH_CDP_Y, TH_OFFSET, TH_SCALCO,
                           decode, lossy_rows)
from ..errors import SeisbatchError
from . import Template, mask_and_log

if TYPE_CHECKING:
    from ..specs import ConvertSpec


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
        store.writable(path, store.internal("raw_headers"), run)[block] = hdr
    n_raw = 0
    if keep_raw:
        lossy = lossy_rows(records["samples"], values, lay.format, lay.endian)
        n_raw = int(lossy.sum())
        if n_raw:
            raw = store.writable(path, store.internal("raw_samples"), run)
            bits = np.zeros(amp.shape, dtype=raw.dtype)
            bits[live] = records["samples"].astype(raw.dtype)
            raw[block] = bits
            flags = np.zeros(grid, dtype=bool)
            flags[live] = lossy
            store.writable(path, store.internal("raw_trace"), run)[block] = flags
    return mask_and_log(path, index, block, live, dict(stats.block_stats(values), raw_traces=n_raw), run)


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


def trace_coords(layout: segy_reader.SegyLayout, geom: geometry.Geometry, fields: dict[int, np.ndarray],
                  il_byte: int, xl_byte: int, offset_byte: int = TH_OFFSET) -> dict[str, np.ndarray]:
    """cdp_x/cdp_y (scaled) on the grid, and for trace-ordered data the header line numbers."""
    size = int(np.prod(geom.grid_shape))
    scale = segy_reader.coordinate_scalar(fields[TH_SCALCO])
    out: dict[str, np.ndarray] = {}
    for name, byte in (("cdp_x", TH_CDP_X), ("cdp_y", TH_CDP_Y)):
        v = np.full(size, np.nan)
        v[geom.grid_index] = fields[byte] * scale
        out[name] = v.reshape(geom.grid_shape)
    per_cell = [] if geom.kind in ("3d", "cmp3d") else [("inline_number", il_byte), ("crossline_number", xl_byte)]
    if geom.kind == "shot":
        per_cell.append(("offset", offset_byte))
    for name, byte in per_cell:  # header values without a dim of their own, on the grid (0 where no trace)
        v = np.zeros(size, np.int32)
        v[geom.grid_index] = fields[byte]
        out[name] = v.reshape(geom.grid_shape)
    return out


GATHER_KEYS = {"offset": "offset_byte", "cdp": "cdp_byte", "shot_point": "shot_byte", "channel": "channel_byte"}


def gather_bytes(options: ConvertSpec) -> dict[str, int]:
    """The header byte of each pre-stack key (offset, cdp, shot_point, channel)."""
    return {k: getattr(options, v) for k, v in GATHER_KEYS.items()}


def detect(path: str, fields: dict[int, np.ndarray], options: ConvertSpec, force: str = "auto") -> geometry.Geometry:
    """The geometry of a file from its scanned header ``fields``."""
    gathers = {k: fields[b] for k, b in gather_bytes(options).items()}
    geom = geometry.detect(fields[options.inline_byte], fields[options.crossline_byte], force, path, gathers,
                           options.offset_bins)
    if geom.kind in geometry.PRESTACK:
        where = dict(gather_bytes(options), inline=options.inline_byte, crossline=options.crossline_byte)
        geom.notes.append("header bytes: " + ", ".join(f"{d} {where[d]}" for d in geom.dims)
                          + (f" (offsets in bins of {options.offset_bins:g})" if options.offset_bins else ""))
    return geom


def template(src: str, layout: segy_reader.SegyLayout, c: Client, options: ConvertSpec,
             scan_progress: engine.Progress | None = None) -> Template:
    """Scan the headers (on the cluster's workers when the file is large), detect the geometry and
    describe the store: every header is kept, and the raw samples of formats float32 cannot hold
    exactly."""
    inline_byte, crossline_byte = options.inline_byte, options.crossline_byte
    geometry_kind, chunks, sample_units, compression = (options.geometry, options.chunks, options.sample_units,
                                                        options.compression)
    wanted = sorted({inline_byte, crossline_byte, TH_CDP_X, TH_CDP_Y, TH_SCALCO, *gather_bytes(options).values()})
    fields = scan_header_fields(c, layout, wanted, scan_progress)
    geom = detect(src, fields, options, geometry_kind)
    text, binary, ext = segy_reader.read_file_header(layout)
    ns = layout.n_samples
    chunks = chunks or store.default_chunks(geom.dims, ns, geom.grid_shape)
    if len(chunks) != len(geom.dims) + 1:
        raise SeisbatchError(src, f"--chunks needs {len(geom.dims) + 1} sizes for a {geom.kind} survey")
    keep_raw = layout.format not in EXACT_IN_FLOAT32
    said = domain.note(domain.sample_domain(decode_text(text), layout.sample_interval_us, ns), sample_units)
    if said:
        geom.notes.append(said)
    dt_ms = layout.sample_interval_us / 1000.0
    source = dict(store.source_id(src), format="segy")
    options_ = {"geometry": geometry_kind, "chunks": list(chunks), "endian": layout.endian,
                "inline_byte": inline_byte, "crossline_byte": crossline_byte, "sample_units": sample_units,
                "compression": compression}
    if geom.kind in geometry.PRESTACK or options.offset_bins:
        options_.update(gather_bytes(options), offset_bins=options.offset_bins)
    attrs = {
        "geometry": {"kind": geom.kind, "dims": list(geom.dims), "notes": geom.notes,
                     "inline_byte": inline_byte, "crossline_byte": crossline_byte,
                     **({k: v for k, v in gather_bytes(options).items()} if geom.kind in geometry.PRESTACK else {})},
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
        "convert_options": options_,
    }
    g2f = geometry.grid_to_file(geom.grid_index, geom.grid_shape)
    blocks = geometry.plan_blocks(geom.grid_shape, chunks[:-1])
    create = dict(dims=geom.dims, axes=geom.axes, samples=layout.delay_ms + dt_ms * np.arange(ns),
                  sample_units=sample_units, chunks=chunks, attrs=attrs, with_headers=True,
                  with_raw_samples=np.dtype(SAMPLE_FORMATS[layout.format][0]) if keep_raw else None,
                  n_file_traces=layout.n_traces,
                  trace_coords=trace_coords(layout, geom, fields, inline_byte, crossline_byte,
                                                            options.offset_byte), compression=compression,
                  coord_attrs=_coord_attrs(decode_text(text), binary, layout.endian))
    lay = layout.to_dict()
    return Template(
        source=source, options=options_, create=create, trace_order=geom.grid_index, blocks=blocks,
        task=segy_block_task,
        task_args=lambda dst, run: [(lay, dst, i, b, g2f[b], keep_raw, run) for i, b in enumerate(blocks)],
        summary={"geometry": geom.kind, "shape": list(geom.grid_shape) + [ns], "traces": layout.n_traces,
                 "notes": geom.notes},
        raw_traces=True,
    )


class SegySource:
    """A SEG-Y file, its file headers read and checked when opened (byte order, format, sizes)."""

    kind = "segy"

    def __init__(self, path: str, options: ConvertSpec) -> None:
        self.path, self.options = path, options
        try:
            self.layout = segy_reader.scan(path, options.endian)
        except SeisbatchError as exc:
            raise not_segy(path) or exc from None

    def check(self) -> None:
        """Nothing more to check before the cluster: the geometry needs the header scan."""

    def template(self, client: Client, scan_progress: engine.Progress | None = None) -> Template:
        return template(self.path, self.layout, client, self.options, scan_progress)

    def describe(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """Layout, geometry, line ranges, textual header; ``progress(traces, total)`` follows the
        header scan (it reads only the line fields, in this process)."""
        return describe(self.path, self.layout, self.options, progress)


def _coord_attrs(text: str, binary: bytes, endian: str) -> dict[str, dict[str, str]]:
    """Units and CRS of the coordinates, and names of the line axes, as xarray shows them."""
    head = bytes(TEXT_SIZE) + binary  # the reader counts byte positions from the file's start
    xy = domain.coordinate_attrs(text, segy_reader._int(head, BIN_MEASUREMENT, 2, endian))
    return {"cdp_x": dict(xy, long_name="CDP x"), "cdp_y": dict(xy, long_name="CDP y"),
            "inline": {"long_name": "inline number"}, "crossline": {"long_name": "crossline number"},
            "offset": {"long_name": "source-receiver offset"}, "cdp": {"long_name": "CMP number"},
            "shot_point": {"long_name": "shot point"}, "channel": {"long_name": "channel"}}


def describe(path: str, layout: segy_reader.SegyLayout, options: ConvertSpec,
             progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """What ``seisbatch info`` says of a SEG-Y file."""
    inline_byte, crossline_byte = options.inline_byte, options.crossline_byte
    wanted = sorted({inline_byte, crossline_byte, *gather_bytes(options).values()})
    fields = segy_reader.read_header_fields(layout, wanted, progress=progress)
    geom = detect(path, fields, options, options.geometry)
    text, _, _ = segy_reader.read_file_header(layout)
    kind, why = domain.sample_domain(decode_text(text), layout.sample_interval_us, layout.n_samples)
    return {
        "kind": "segy",
        "domain": {"kind": kind, "why": why},
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
        "key_ranges": {k: [int(fields[b].min()), int(fields[b].max()), b] for k, b in gather_bytes(options).items()},
        "text_header": decode_text(text),
    }


_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"%PDF": "a PDF document",
          b"PK\x03\x04": "a ZIP archive", b"\x1f\x8b": "a gzip file", b"GIF8": "a GIF image", b"II*\x00": "a TIFF image",
          b"MM\x00*": "a TIFF image", b"CDF\x01": "a NetCDF file", b"CDF\x02": "a NetCDF file"}
_EBCDIC_PRINTABLE = set(" .<(+|&!$*);-/,%_>?:#@'=\"".encode("cp037")) | set(range(0x81, 0x8A)) | set(range(0x91, 0x9A)) \
    | set(range(0xA2, 0xAA)) | set(range(0xC1, 0xCA)) | set(range(0xD1, 0xDA)) | set(range(0xE2, 0xEA)) | set(range(0xF0, 0xFA))
_TEXTUAL = _EBCDIC_PRINTABLE | set(range(0x20, 0x7F)) | {0}


def not_segy(path: str) -> SeisbatchError | None:
    """The error for a file that is plainly not SEG-Y (a known magic number, a first 3200 bytes that
    are not a textual header in EBCDIC, ASCII or zeros, or text where the binary header goes), said
    as such; None when it may be SEG-Y with a damaged header, whose reader error is the better
    message."""
    try:
        with open(path, "rb") as fh:
            head, binary = fh.read(3200), fh.read(400)
    except OSError:
        return None
    what = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
    if what is None and len(binary) == 400 and sum(32 <= b < 127 or b in (9, 10, 13) for b in binary) > 0.95 * 400:
        what = "a text file"  # a binary header is mostly zeros and small integers, never text
    if what is None and (len(head) < 3200 or sum(b in _TEXTUAL for b in head) >= 0.8 * len(head)):
        return None
    why = "its binary header is text" if what == "a text file" else "its first 3200 bytes are not a SEG-Y textual header"
    return SeisbatchError(path, f"not a SEG-Y file{f' ({what})' if what else ''}, nor HDF5, a Zarr store or an MDIO "
                                f"store: {why}")


def decode_text(raw: bytes) -> str:
    """Textual header as text, EBCDIC (cp037) or ASCII, whichever reads as more letters, digits
    and spaces (an EBCDIC header of blanks is all '@' in ASCII, which is printable too)."""
    raw = bytes(raw)

    def readable(text: str) -> int:
        return sum(c.isalnum() or c == " " for c in text)

    ascii_text, ebcdic = raw.decode("ascii", "replace"), raw.decode("cp037", "replace")
    text = ascii_text if readable(ascii_text) >= readable(ebcdic) else ebcdic
    return "\n".join(text[i : i + 80].rstrip() for i in range(0, len(text), 80))
