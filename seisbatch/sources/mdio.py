"""An MDIO v1 store (post-stack 3D or 2D) as a source: the store template, with the trace and file
headers MDIO kept (what it did not keep is made up and said), and the block task."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import geometry, mdio_source, segy_writer, stats, store
from ..errors import SeisbatchError
from ..segy_format import FILE_HEADER_SIZE, SAMPLE_FORMATS, TRACE_HEADER_SIZE, sample_size
from . import Template, mask_and_log

if TYPE_CHECKING:
    from distributed import Client

    from ..specs import ConvertSpec


def mdio_block_task(vol: dict, path: str, index: int, block: tuple[slice, ...], slab: int, endian: str | None,
                    run: str) -> np.ndarray:
    """Worker: copy one grid block of an MDIO v1 store (every sample, ``slab`` samples at a time)
    and its trace headers into the store, then log it done; returns its row of the log."""
    v = mdio_source.MdioVolume(**vol)
    live = mdio_source.read_mask(v, block)
    parts = []
    if live.any():  # a block without traces keeps the fill values: nothing to write
        amp = store.writable(path, "amplitude", run)
        for s in range(0, v.shape[-1], slab):
            data = mdio_source.read_block(v, block, slice(s, s + slab), live)
            amp[block + (slice(s, s + slab),)] = data
            parts.append(stats.block_stats(data[live]))
        if endian is not None:
            store.writable(path, store.internal("raw_headers"), run)[block] = mdio_source.read_headers(v, block, endian)
    return mask_and_log(path, index, block, live,
                         stats.combine(parts) if parts else stats.block_stats(np.zeros(0, np.float32)), run)


def template(src: str, vol: mdio_source.MdioVolume, *, chunks: tuple[int, ...] | None, compression: str) -> Template:
    """The store of an opened MDIO volume; blocks cover whole MDIO chunks where they can."""
    dims, ns = vol.store_dims, vol.shape[-1]
    chunks = chunks or store.default_chunks(dims, ns, vol.shape[:-1])
    if len(chunks) != len(vol.shape):
        raise SeisbatchError(src, f"--chunks needs {len(vol.shape)} sizes for this store")
    grid_axes, samples, coords = mdio_source.axes(vol)
    mask = mdio_source.read_mask(vol)
    text, binary = mdio_source.file_headers(vol)
    notes = [f"from an MDIO {vol.api_version} store ({vol.variable} on {', '.join(vol.dims + (vol.sample_dim,))})"]
    units = mdio_source.SAMPLE_DIMS[vol.sample_dim]
    dt = float(samples[1] - samples[0]) if ns > 1 else 4.0
    dt_us = int(round(dt * 1000))
    if binary is not None:
        fmt, endian = mdio_source.binary_format(binary, src)
    else:
        fmt, endian = 5, "big"
        notes.append("binary header made up (the MDIO store kept none): IEEE float, big-endian")
    if text is None:
        text = segy_writer.file_header(ns, dt_us, f"FROM MDIO STORE {os.path.basename(src)}")[0]
        notes.append("textual header made up (the MDIO store kept none)")
    if binary is None:
        binary = segy_writer.file_header(ns, dt_us, "", fmt, endian)[1]
    with_headers = mdio_source.has_headers(vol)
    if not with_headers:
        notes.append("trace headers made up at export (the MDIO store has neither raw nor standard headers)")
    elif mask.any() and ns:
        delay = mdio_source.recording_delay(vol, mask, endian)
        if delay != samples[0]:
            notes.append(f"the trace headers give a {delay} {units} recording delay; MDIO's {vol.sample_dim} axis, "
                         f"kept as the sample axis, starts at {samples[0]:g} {units}")
    n_live = int(mask.sum())
    source = dict(store.source_id(src), format="mdio", variable=vol.variable)
    options = {"chunks": list(chunks), "compression": compression}
    attrs = {
        "geometry": {"kind": vol.kind, "dims": list(dims), "notes": notes},
        "source": source,
        "segy": {
            "path": src, "endian": endian, "format": fmt, "n_samples": ns, "sample_interval_us": dt_us,
            "delay_ms": int(samples[0]) if ns else 0, "n_ext_headers": 0, "n_traces": n_live,
            "file_size": FILE_HEADER_SIZE + n_live * (TRACE_HEADER_SIZE + ns * sample_size(fmt)),
            "format_name": SAMPLE_FORMATS[fmt][1],
            "text_header": store.b64(text), "binary_header": store.b64(binary), "ext_headers": [],
        },
        "sample_interval": dt,
        "sample_units": units,
        "convert_options": options,
    }
    # blocks cover whole MDIO chunks where they can, so each MDIO chunk is decoded about once
    block_grid = tuple(min(n, -(-m // c) * c) for n, m, c in zip(vol.shape[:-1], vol.chunks[:-1], chunks[:-1]))
    blocks = geometry.plan_blocks(vol.shape[:-1], block_grid)
    vol_dict = {"path": vol.path, "variable": vol.variable, "api_version": vol.api_version, "dims": vol.dims,
                "sample_dim": vol.sample_dim, "shape": vol.shape, "chunks": vol.chunks}
    create = dict(dims=dims, axes=grid_axes, samples=samples, sample_units=units, chunks=chunks, attrs=attrs,
                  with_headers=with_headers, with_raw_samples=None, n_file_traces=n_live, trace_coords=coords,
                  compression=compression)
    head_endian = endian if with_headers else None
    return Template(
        source=source, options=options, create=create,
        trace_order=np.flatnonzero(mask.ravel()),  # MDIO keeps no file order: grid order
        blocks=blocks, task=mdio_block_task,
        task_args=lambda dst, run: [(vol_dict, dst, i, b, chunks[-1], head_endian, run) for i, b in enumerate(blocks)],
        summary={"geometry": attrs["geometry"]["kind"], "shape": list(vol.shape), "traces": n_live, "notes": notes},
        checksum=False,
    )


class MdioSource:
    """An MDIO v1 store, its dataset's layout read and checked when opened."""

    kind = "mdio"

    def __init__(self, path: str, options: ConvertSpec) -> None:
        self.path, self.options = path, options
        self.volume = mdio_source.open_volume(path)
        self._template: Template | None = None

    def check(self) -> None:
        if self._template is not None:  # checked already (the CLI checks before its cluster starts)
            return
        if self.options.checksum:
            raise SeisbatchError(self.path, "--checksum is for SEG-Y and HDF5 files; an MDIO store is a directory")
        self._template = template(self.path, self.volume, chunks=self.options.chunks,
                                  compression=self.options.compression)

    def template(self, client: Client | None = None, scan_progress: Callable[[int, int], None] | None = None) -> Template:
        if self._template is None:
            self.check()
        return self._template

    def describe(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        return describe(self.path, self.volume)


def describe(path: str, vol: mdio_source.MdioVolume) -> dict[str, Any]:
    """What `convert` would take from an MDIO v1 store."""
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
