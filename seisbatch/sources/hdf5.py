"""An HDF5 dataset (2D or 3D) as a source: the store template and the block task; all-zero traces
are dead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from .. import geometry, hdf5_source, stats, store
from ..errors import SeisbatchError
from . import Template, mask_and_log

if TYPE_CHECKING:
    from distributed import Client

    from ..specs import ConvertSpec


def hdf5_block_task(vol: dict, path: str, index: int, block: tuple[slice, ...], run: str) -> np.ndarray:
    """Worker: copy one grid block of an HDF5 volume into the store (all-zero traces are dead);
    returns its row of the block log."""
    v = hdf5_source.Hdf5Volume(**vol)
    data = hdf5_source.read_block(v, block)
    live = np.any(data != 0, axis=-1)
    if live.any():  # an all-zero block keeps the fill value: nothing to write
        store.writable(path, "amplitude", run)[block] = data
    return mask_and_log(path, index, block, live, stats.block_stats(data[live]), run)


def template(src: str, vol: hdf5_source.Hdf5Volume, *, sample_interval: float, sample_units: str,
             chunks: tuple[int, ...] | None, compression: str) -> Template:
    """The store of an opened HDF5 volume: its axes numbered from 0, no headers."""
    shape = vol.store_shape
    dims = vol.dims
    chunks = chunks or store.default_chunks(dims, shape[-1])
    if len(chunks) != len(shape):
        raise SeisbatchError(src, f"--chunks needs {len(shape)} sizes for this dataset")
    axes_values = {d: np.arange(n, dtype=np.int64) for d, n in zip(dims, shape[:-1])}
    source = dict(store.source_id(src), format="hdf5", dataset=vol.dataset, axes=list(vol.axes))
    options = {"chunks": list(chunks), "sample_interval": sample_interval, "sample_units": sample_units,
               "compression": compression}
    kind = "3d" if len(dims) == 2 else "2d"
    attrs = {
        "geometry": {"kind": kind, "dims": list(dims), "notes": []},
        "source": source,
        "sample_interval": sample_interval,
        "sample_units": sample_units,
        "convert_options": options,
    }
    blocks = geometry.plan_blocks(shape[:-1], chunks[:-1])
    vol_dict = {"path": vol.path, "dataset": vol.dataset, "shape": vol.shape, "axes": vol.axes}
    n = int(np.prod(shape[:-1]))
    create = dict(dims=dims, axes=axes_values, samples=sample_interval * np.arange(shape[-1]), sample_units=sample_units,
                  chunks=chunks, attrs=attrs, with_headers=False, with_raw_samples=None, n_file_traces=n,
                  compression=compression)
    return Template(
        source=source, options=options, create=create, trace_order=np.arange(n, dtype=np.int64), blocks=blocks,
        task=hdf5_block_task, task_args=lambda dst, run: [(vol_dict, dst, i, b, run) for i, b in enumerate(blocks)],
        summary={"geometry": kind, "shape": list(shape), "traces": n, "notes": []},
    )


class Hdf5Source:
    """An HDF5 file; the dataset to convert (option ``dataset``, or the one volume in the file) is
    opened by :meth:`check`, as ``info`` lists every dataset instead."""

    kind = "hdf5"

    def __init__(self, path: str, options: ConvertSpec) -> None:
        self.path, self.options = path, options
        self._template: Template | None = None

    def check(self) -> None:
        if self._template is not None:  # checked already (the CLI checks before its cluster starts)
            return
        o = self.options
        vol = hdf5_source.open_volume(self.path, o.dataset, o.axes)
        self._template = template(self.path, vol, sample_interval=o.sample_interval, sample_units=o.sample_units,
                                  chunks=o.chunks, compression=o.compression)

    def template(self, client: Client | None = None, scan_progress: Callable[[int, int], None] | None = None) -> Template:
        if self._template is None:
            self.check()
        return self._template

    def describe(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        return describe(self.path)


def describe(path: str) -> dict[str, Any]:
    """Every dataset of an HDF5 file, its type and, when small, its values' range; patch datasets
    (the paper's training layout) are named as such."""
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
