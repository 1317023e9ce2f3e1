"""Inputs seisbatch converts, each behind one small protocol.

A source module (``segy``, ``hdf5``, ``mdio``; a new format adds one) owns, for its format:

- ``describe(path)``: what ``seisbatch info`` says of such an input;
- ``template(...)``: read what the client needs (headers, geometry) and return a :class:`Template`:
  the store to create, its attributes, the chunk-aligned blocks of the trace grid, and the block
  task with its arguments;
- the block task: on a worker, read one block of the input, write it into the store, and return
  its row of the conversion's block log (:func:`mask_and_log`).

``seisbatch.convert`` runs every source the same way: client, lock, start or resume, template,
blocks, statistics, finish; ``info`` asks the source to describe the input. :func:`kind` tells
the formats apart, for both.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import mdio_source, stats, store
from ..errors import SeisbatchError


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


def mask_and_log(path: str, index: int, block: tuple[slice, ...], live: np.ndarray, part: dict, run: str) -> np.ndarray:
    """A block task's last writes: its trace mask, then its row in the block log (it is done),
    which it returns. ``part``: the block's statistics, with its count of raw traces (default 0)."""
    store.writable(path, "trace_mask", run)[block] = live
    row = stats.to_row(dict(part, raw_traces=part.get("raw_traces", 0)))
    store.write_block_row(path, index, row, run)
    return row
