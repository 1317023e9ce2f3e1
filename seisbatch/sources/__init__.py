"""Inputs seisbatch converts, each behind one small protocol, :class:`Source`.

:func:`open_source` tells the format apart (:func:`kind`) and opens the input with the convert
options; a source module (``segy``, ``hdf5``, ``mdio``; a new format adds one, and an entry in
:data:`FORMATS`) owns, for its format, a class that:

- ``describe()``: says what ``seisbatch info`` shows of such an input;
- ``check()``: reads and checks what a conversion needs before any cluster starts;
- ``template(client)``: reads what the client needs (headers, geometry) and returns a
  :class:`Template`: the store to create, its attributes, the chunk-aligned blocks of the trace
  grid (the block plan), and the block task with its arguments;

and the block task: on a worker, read one block of the input, write it into the store, and mark
the block done with its statistics (:func:`mask_and_log`).

``seisbatch.convert`` runs every source the same way (client, lock, start or resume, template,
blocks, statistics, finish); ``seisbatch.info`` asks the source to describe the input.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .. import mdio_source, stats, store
from ..errors import SeisbatchError

if TYPE_CHECKING:
    from distributed import Client

    from ..specs import ConvertSpec


def kind(path: str) -> str:
    """What ``path`` is: "mdio", "store" (a seisbatch store, a directory or URL), "hdf5" or "segy"
    (anything else that exists; the SEG-Y reader says when it is not); the one place inputs are
    told apart, for ``convert`` and ``info``."""
    import h5py

    if mdio_source.is_mdio(path):
        return "mdio"
    if store.is_url(path) or os.path.isdir(path):
        return "store"
    if not os.path.exists(path):
        raise SeisbatchError(path, "no such file or store")
    return "hdf5" if h5py.is_hdf5(path) else "segy"


@dataclass
class Template:
    """What a source tells the convert driver."""

    source: dict[str, Any]  # the input's identity, recorded in the store
    options: dict[str, Any]  # the conversion's options: a run resumes only with the same ones
    create: dict[str, Any]  # keyword arguments of store.create (dims, axes, samples, chunks, attrs, ...)
    trace_order: np.ndarray  # grid cell of each input trace
    blocks: list[tuple[slice, ...]]
    task: Callable[..., np.ndarray]  # block task: task(*task_args(dst, run)[i]) writes block i, returns its log row
    task_args: Callable[[str, str], list[tuple]]
    summary: dict[str, Any]  # geometry, shape, traces, notes: what the CLI prints
    checksum: bool = True  # the input is one file whose sha256 can be recorded
    raw_traces: bool = False  # the store counts traces kept raw (inexact in float32)


class Source(Protocol):
    """An input opened for ``info`` or ``convert``."""

    path: str
    kind: str

    def describe(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        """What ``seisbatch info`` says of the input; ``progress(done, total)`` follows a long read."""

    def check(self) -> None:
        """Read and check what a conversion needs, before any cluster starts (SeisbatchError if bad)."""

    def template(self, client: Client, scan_progress: Callable[[int, int], None] | None = None) -> Template:
        """The store a conversion creates and its blocks (``client`` shares a long header scan)."""


FORMATS = {"segy": "segy.SegySource", "hdf5": "hdf5.Hdf5Source", "mdio": "mdio.MdioSource"}


def open_source(path: str, options: ConvertSpec) -> Source:
    """The input at ``path`` opened as its format's :class:`Source`, with the convert ``options``
    (those of another format are ignored)."""
    import importlib

    what = kind(path)
    if what == "store":
        if store.is_url(path) or store.is_zarr_dir(path):
            raise SeisbatchError(path, "already a seisbatch store: there is nothing to convert "
                                       "(`seisbatch info` describes it)")
        raise SeisbatchError(path, "a folder that is neither a Zarr store nor an MDIO store: "
                                   "convert reads SEG-Y and HDF5 files and MDIO stores")
    module, cls = FORMATS[what].split(".")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(path, options)


def mask_and_log(path: str, index: int, block: tuple[slice, ...], live: np.ndarray, part: dict, run: str) -> np.ndarray:
    """A block task's last writes: its trace mask, then its row of the conversion's progress (it is
    done), which it returns. ``part``: the block's statistics, with its count of raw traces (default 0)."""
    store.writable(path, "trace_mask", run)[block] = live
    row = stats.to_row(dict(part, raw_traces=part.get("raw_traces", 0)))
    store.mark_done(path, store.CONVERSION, index, row, run)
    return row
