"""``seisbatch export``: an array of a store back to SEG-Y with the original headers."""

from __future__ import annotations

import argparse

from .. import progress
from .common import batch_outputs, client_args, client_kwargs, naming


def add_parser(sub) -> None:
    e = sub.add_parser("export", help="store -> SEG-Y with the original headers",
                       description="Write an array of a store as SEG-Y with the original file's headers, trace order "
                                   "and sample format. An unmodified store gives back the input byte for byte. An export killed "
                                   "midway resumes when run again (OUT.partial and OUT.partial.progress are its work).")
    e.add_argument("store", nargs="+", help="seisbatch Zarr store; several are exported one after the other on one "
                   "cluster, every one checked before any is written")
    e.add_argument("output", help="SEG-Y file to write; with several stores, a directory (made if missing) that gets "
                   "NAME_ARRAY.sgy for each NAME.zarr (line1_denoised.sgy), so the originals are never replaced")
    e.add_argument("--array", default="amplitude", help="array to export (default amplitude; e.g. denoised)")
    e.add_argument("--overwrite", action="store_true",
                   help="replace OUTPUT if it exists, once the new file is complete (a failed run leaves it whole)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    client_args(e)
    e.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from .. import engine, export

    jobs = batch_outputs(args.store, args.output, f"_{args.array}.sgy")
    for path, out in jobs:  # every store and output checked before a cluster starts
        with naming(path):
            export.check(path, out, args.array, args.overwrite)
    with engine.dask_client(**client_kwargs(args)) as client:
        for k, (path, out) in enumerate(jobs, 1):
            update, close = progress.bar("export" if len(jobs) == 1 else f"export {k}/{len(jobs)}", args.quiet)
            try:
                with naming(out):  # an OSError names the file being written
                    r = export.export_segy(path, out, array=args.array, client=client, overwrite=args.overwrite,
                                           progress=update)
            finally:
                close()
            resumed = f" ({r['resumed']} of {r['tasks']} blocks written by an earlier run)" if r["resumed"] else ""
            print(f"{path}[{args.array}] -> {out}: {r['traces']} traces, {r['bytes']} bytes{resumed}")
    return 0
