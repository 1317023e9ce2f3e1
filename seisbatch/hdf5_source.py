"""HDF5 input: find and check the dataset to convert, and read blocks of it in survey axis order.

A 2D dataset is a line (trace, sample); a 3D one a cube (inline, crossline, sample). ``axes``
names the dataset's own axis order so any layout can be read, e.g. "sample,trace". The training
layout of noise_dataset.h5, (N, 64, 64, 1) under /X and /Y, is recognised as patches, not a survey.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import h5py
import numpy as np

from .errors import SeisbatchError


@dataclass(frozen=True)
class Hdf5Volume:
    path: str
    dataset: str
    shape: tuple[int, ...]  # in the dataset's own order
    axes: tuple[str, ...]  # dataset axis names, e.g. ("sample", "trace")

    @property
    def dims(self) -> tuple[str, ...]:
        """Store dims (without sample), in store order."""
        return ("inline", "crossline") if len(self.shape) == 3 else ("trace",)

    @property
    def store_order(self) -> tuple[int, ...]:
        """Dataset axis index of each store axis (dims + sample)."""
        return tuple(self.axes.index(d) for d in self.dims + ("sample",))

    @property
    def store_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[i] for i in self.store_order)


def is_patch_layout(shape: tuple[int, ...]) -> bool:
    """(N, h, w, 1): the paper's training patches."""
    return len(shape) == 4 and shape[-1] == 1


def is_numeric(dtype: np.dtype) -> bool:
    """Integers or floats: what can be amplitudes (not strings, records, booleans or complex)."""
    return dtype.kind in "iuf"


def datasets(path: str) -> dict[str, tuple[int, ...]]:
    """Every dataset in the file with its shape."""
    found: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return found


def open_volume(path: str, dataset: str | None, axes: str | None) -> Hdf5Volume:
    """Check the file and dataset and resolve the axis order, with a clear error otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SeisbatchError(path, "no such file")
    if not h5py.is_hdf5(path):
        raise SeisbatchError(path, "not an HDF5 file")
    found = datasets(path)
    with h5py.File(path, "r") as f:
        dtypes = {n: f[n].dtype for n in found}
    if dataset is None:  # what could be a survey: 2D/3D, not empty, numbers
        candidates = [n for n, s in found.items() if len(s) in (2, 3) and 0 not in s and is_numeric(dtypes[n])]
        if len(candidates) != 1:
            if "X" in found and is_patch_layout(found["X"]):
                raise _patch_error(path, "X", found["X"])
            raise SeisbatchError(path, f"choose the dataset with --dataset; 2D/3D datasets: {candidates or 'none'}")
        dataset = candidates[0]
    key = dataset.strip("/")
    if key not in found:
        raise SeisbatchError(path, f"no dataset {dataset!r}; datasets: {sorted(found)}")
    shape = tuple(found[key])
    if is_patch_layout(shape):
        raise _patch_error(path, key, shape)
    if len(shape) not in (2, 3):
        raise SeisbatchError(path, f"dataset {key!r} has shape {shape}; a survey needs 2 or 3 dimensions")
    if 0 in shape:
        raise SeisbatchError(path, f"dataset {key!r} of shape {shape} is empty")
    if not is_numeric(dtypes[key]):
        raise SeisbatchError(path, f"dataset {key!r} holds {dtypes[key]}, not real numbers: a survey needs amplitudes")
    default = ("inline", "crossline", "sample") if len(shape) == 3 else ("trace", "sample")
    names = tuple(a.strip() for a in axes.split(",")) if axes else default
    if sorted(names) != sorted(default):
        raise SeisbatchError(path, f"--axes must order the names {', '.join(default)}; got {axes!r}")
    return Hdf5Volume(path, key, shape, names)


def _patch_error(path: str, key: str, shape: tuple[int, ...]) -> SeisbatchError:
    return SeisbatchError(
        path,
        f"dataset {key!r} of shape {shape} is a set of training patches (the noise_dataset.h5 layout), "
        "not a survey: use it with `seisbatch train`, or convert a 2D/3D dataset",
    )


def read_block(vol: Hdf5Volume, block: tuple[slice, ...]) -> np.ndarray:
    """float32 block in store order; ``block`` has one slice per store dim, all samples."""
    sel = [slice(None)] * len(vol.shape)
    for store_axis, ds_axis in enumerate(vol.store_order[:-1]):
        sel[ds_axis] = block[store_axis]
    with h5py.File(vol.path, "r") as f:
        data = f[vol.dataset][tuple(sel)]
    return np.ascontiguousarray(np.transpose(data, vol.store_order)).astype(np.float32)
