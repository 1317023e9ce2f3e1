"""Pieces every command shares: the cluster options, batch outputs, counted nouns."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import SeisbatchError, as_os_error


GEOMETRY_HELP = (
    "survey geometry: auto (detect), 3d (inline x crossline grid), 2d (a line, stored as trace x "
    "sample), cmp3d (CMP gathers: inline x crossline x offset), cmp2d (CMP gathers: cdp x offset), shot "
    "(shot gathers: shot_point x channel), traces (unsorted, file order)"
)


def header_args(parser: argparse.ArgumentParser, geometry: bool = False) -> None:
    """The SEG-Y trace header bytes of the line and gather keys (and the geometry), for ``convert``
    and ``info``, which detect the geometry the same way."""
    from ..segy_format import TH_CDP, TH_CHANNEL, TH_CROSSLINE, TH_INLINE, TH_OFFSET, TH_SHOT
    from ..specs import GEOMETRIES

    g = parser.add_argument_group("SEG-Y trace headers")
    for name, byte, what in (("inline", TH_INLINE, "inline number"), ("crossline", TH_CROSSLINE, "crossline number"),
                             ("offset", TH_OFFSET, "source-receiver offset (gathers)"),
                             ("cdp", TH_CDP, "CMP number (2D CMP gathers)"),
                             ("shot", TH_SHOT, "shot number (shot gathers; 17 is the energy source point)"),
                             ("channel", TH_CHANNEL, "channel (shot gathers; 13 is the trace number in the record)")):
        g.add_argument(f"--{name}-byte", type=int, default=byte, help=f"byte of the {what} (default {byte})")
    g.add_argument("--offset-bins", type=float, default=None,
                   help="bin offsets to this width (in the header's units) instead of one offset per value present: "
                        "for gathers whose offsets differ slightly from gather to gather")
    if geometry:
        g.add_argument("--geometry", default="auto", choices=list(GEOMETRIES), help=GEOMETRY_HELP)


def header_options(args: argparse.Namespace) -> dict:
    """The ConvertSpec fields that :func:`header_args` gave."""
    names = ("inline_byte", "crossline_byte", "offset_byte", "cdp_byte", "shot_byte", "channel_byte", "offset_bins")
    return {k: getattr(args, k) for k in names + (("geometry",) if hasattr(args, "geometry") else ())}


def csv(values) -> str:
    """(512, 1024) -> '512,1024', as the options take it."""
    return ",".join(map(str, values))


def count(n: int, noun: str) -> str:
    """'1 block', '2 blocks'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def client_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster")
    g.add_argument("--workers", type=int, default=None,
                   help="worker processes of the embedded local cluster, at least 1 (default: setting "
                        "seisbatch.workers, else one per CPU core, at most 8)")
    g.add_argument("--scheduler", default=None,
                   help="address (tcp://host:port) or scheduler-file of an existing Dask cluster to use "
                        "instead of starting a local one (default: setting seisbatch.scheduler, unset)")


def workers(given: int | None) -> int:
    """--workers resolved (``engine.resolve_workers``), a bad value a one-line error before any
    cluster starts."""
    from .. import engine

    try:
        return engine.resolve_workers(given)
    except ValueError as exc:
        raise SeisbatchError(None, f"--workers: {exc}") from None


def client_kwargs(args: argparse.Namespace) -> dict:

    kw = {"scheduler": args.scheduler, "workers": workers(args.workers)}
    if getattr(args, "gpu", False):
        kw["gpu"] = True
    return kw


def batch_outputs(inputs: list[str], output: str, suffix: str) -> list[tuple[str, str]]:
    """(input, output) pairs: one input writes ``output`` itself; several write NAME``suffix`` each
    (NAME: the input's file name without its extension) into the directory ``output``, made if
    missing. Every input must exist and no two may share a NAME; checked before any work."""
    from .. import store

    inputs = list(dict.fromkeys(inputs))  # each once, in the order given
    if len(inputs) == 1:
        return [(inputs[0], output)]
    for path in inputs:
        if not store.is_url(path) and not os.path.exists(path):
            raise SeisbatchError(path, "no such file")
    names: dict[str, str] = {}
    for path in inputs:
        name = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
        if name in names:
            raise SeisbatchError(path, f"has the same name as {names[name]}: their outputs would be one "
                                       f"({name}{suffix}); convert or export them in separate commands")
        names[name] = path
    if store.is_url(output):
        return [(path, f"{output.rstrip('/')}/{name}{suffix}") for name, path in names.items()]
    if os.path.exists(output) and (not os.path.isdir(output) or store.is_zarr_dir(output)):
        raise SeisbatchError(output, f"with {len(inputs)} inputs the last argument is a directory for their outputs, "
                                     "and this is a file or a Zarr store")
    os.makedirs(output, exist_ok=True)
    return [(path, os.path.join(output, name + suffix)) for name, path in names.items()]


@contextmanager
def naming(path: str) -> Iterator[None]:
    """An operating-system error raised inside (disk full, permission denied, often on a worker)
    names ``path`` when it names no file itself, so ``main`` can say where it happened."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        os_exc = as_os_error(exc)  # zarrs reports these as RuntimeError
        if os_exc is None:
            raise
        if not os_exc.filename:
            os_exc.filename = path
        if os_exc is exc:
            raise
        raise os_exc from exc


class Renamed(argparse.Action):
    """An option's old spelling: still works, says its new one on stderr, and stays out of --help.
    The scheme: positional arguments are the files and stores read and written, ``--array`` an
    array inside a store, ``--out`` any other file a command writes."""

    def __init__(self, option_strings, dest, new: str, **kwargs) -> None:
        self.new = new
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        import sys

        print(f"seisbatch: note: {option_string} is now {self.new} (the old spelling still works)", file=sys.stderr)
        setattr(namespace, self.dest, values)
