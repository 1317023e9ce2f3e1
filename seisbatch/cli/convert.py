"""``seisbatch convert``: SEG-Y, HDF5 or MDIO files into Zarr stores, one after the other on one cluster."""

from __future__ import annotations

import argparse
import sys

from .. import progress
from ..errors import SeisbatchError
from .common import batch_outputs, client_args, client_kwargs, count, csv, header_args, header_options, naming


def add_parser(sub) -> None:
    from .. import config

    c = sub.add_parser("convert", help="SEG-Y, HDF5 or MDIO v1 -> chunked Zarr store (keeps every header)",
                       description="Convert a SEG-Y file, an HDF5 dataset or an MDIO v1 store into a seisbatch Zarr "
                                   "store, in parallel. Every header is kept so `seisbatch export` writes the file back "
                                   "exactly (from MDIO: the headers MDIO kept; the summary says what was made up).")
    c.add_argument("input", nargs="+",
                   help="SEG-Y file, HDF5 file, or MDIO v1 store (post-stack 3D or 2D, a local directory); several "
                        "(the lines of a 2D survey, say) are converted one after the other on one cluster; one that fails is "
                        "reported and the others go on (exit code 2)")
    c.add_argument("output", help="new Zarr store: a directory (survey.zarr) or an fsspec URL (s3://bucket/survey.zarr, "
                   "with the s3 extra; credentials and endpoint from the usual AWS variables). With several inputs, "
                   "a directory (made if missing) that gets one store per input, NAME.zarr for NAME.sgy; run the "
                   "same command again to finish: stores already converted from the same files are skipped")
    c.add_argument("--overwrite", action="store_true",
                   help="replace OUTPUT if it is an existing Zarr store (a folder that is not a store, or a file, is "
                        "never removed)")
    c.add_argument("--chunks", help="chunk shape, comma-separated, sample axis last (default "
                   f"{csv(config.get('convert.chunks-3d'))} for 3D, {csv(config.get('convert.chunks-2d'))} otherwise: "
                   "settings seisbatch.convert.chunks-3d and chunks-2d)")
    c.add_argument("--checksum", action="store_true", default=None,
                   help="also record the input file's sha256 in the store (SEG-Y and HDF5; reads the whole file once more, on one worker; "
                   f"default: setting seisbatch.convert.checksum, {'on' if config.get('convert.checksum') else 'off'}). Path, size and modification time are always recorded")
    c.add_argument("--compression", choices=["lz4", "zstd", "none"],
                   help=f"lossless codec of the amplitudes (default: setting seisbatch.convert.compression, "
                        f"{config.get('convert.compression')}). "
                   "Both bit-shuffle the samples first. Measured on real surveys: lz4 stores them in 34-76%% of their size; zstd in "
                   "31-74%%, compressing 2-12x slower than lz4; none at full size, converting 1.1-1.3x faster than lz4 on "
                   "2 cores. Headers are always compressed")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    header_args(c, geometry=True)
    s = c.add_argument_group("SEG-Y")
    s.add_argument("--endian", choices=["big", "little"], help="byte order (default: detected from the binary header)")
    s.add_argument("--sample-units", default="ms", choices=["ms", "m", "ft"], help="units of the sample axis (default ms)")
    h = c.add_argument_group("HDF5")
    h.add_argument("--dataset", help="dataset to convert (default: the only 2D/3D dataset in the file)")
    h.add_argument("--axes", help="the dataset's axis order, e.g. inline,crossline,sample (3D default) or trace,sample (2D default)")
    h.add_argument("--sample-interval", type=float, default=4.0, help="sample interval of HDF5 data in sample units (default 4.0)")
    client_args(c)
    c.set_defaults(func=cmd_convert)


def _already_converted(src: str, dst: str) -> bool:
    """Whether ``dst`` is a complete store converted from the file ``src`` as it is now (path,
    size, modification time): a batch run again skips it."""
    from .. import store

    try:
        return store.same_source(store.meta(store.open_complete(dst)).get("source", {}), store.source_id(src))
    except (SeisbatchError, OSError):
        return False


def cmd_convert(args: argparse.Namespace) -> int:
    from .. import convert, engine, sources, store

    jobs = batch_outputs(args.input, args.output, ".zarr")
    try:  # every option checked before a cluster starts
        spec = convert.ConvertSpec(
            chunks=convert.parse_chunks(args.chunks), compression=args.compression, checksum=args.checksum,
            endian=args.endian, sample_units=args.sample_units, dataset=args.dataset, axes=args.axes,
            sample_interval=args.sample_interval, **header_options(args))
    except ValueError as exc:
        raise SeisbatchError(None, str(exc)) from None
    done, skipped, failed = 0, 0, []

    def report(src: str, exc: SeisbatchError) -> None:
        if len(jobs) == 1:
            raise exc
        print(f"seisbatch: error: {exc}", file=sys.stderr)  # a bad file does not stop the others
        failed.append(src)

    todo = []
    for src, dst in jobs:  # every input opened and checked before a cluster starts
        if len(jobs) > 1 and not args.overwrite and _already_converted(src, dst):
            print(f"{src} -> {dst}: already converted (--overwrite converts it again)")
            skipped += 1
            continue
        try:
            with naming(src):
                source = sources.open_source(src, spec)
                source.check()
            store.check_folder(dst)
        except SeisbatchError as exc:
            report(src, exc)
            continue
        todo.append((src, dst, source))
    if todo:
        with engine.dask_client(**client_kwargs(args)) as client:
            for k, (src, dst, source) in enumerate(todo, 1):
                label = "convert" if len(todo) == 1 else f"convert {k}/{len(todo)}"
                try:
                    with naming(dst):  # an OSError names the store being written
                        summary = _convert_one(args, client, source, dst, spec, label)
                except SeisbatchError as exc:
                    report(src, exc)
                    continue
                _print_converted(src, dst, summary)
                done += 1
    if len(jobs) > 1:
        print(f"{len(jobs)} inputs: {done} converted, {skipped} already converted, {len(failed)} failed"
              + (f" ({', '.join(failed)})" if failed else ""))
    return 2 if failed else 0


def _convert_one(args: argparse.Namespace, client, source, dst: str, spec, label: str) -> dict:
    from .. import convert

    update, close = progress.bar(label, args.quiet)
    scan_update, scan_close = progress.bar("scan headers", args.quiet)
    try:
        return convert.convert_source(source, dst, spec, client=client, overwrite=args.overwrite, progress=update,
                                      scan_progress=scan_update)
    finally:
        scan_close()
        close()


def _print_converted(src: str, dst: str, summary: dict) -> None:
    s = summary["stats"]
    print(f"{src} -> {dst}: {summary['geometry']} survey {' x '.join(map(str, summary['shape']))}, "
          f"{count(summary['traces'], 'trace')} in {count(summary['blocks'], 'block')}; rms {s['rms']:.4g}, |a| p99 {s['abs_p99']:.4g}")
    for note in summary["notes"]:
        print(f"note: {note}")
    if summary["raw_traces"]:
        print(f"note: {summary['raw_traces']} traces are not exact in float32; their raw samples are kept for export")
