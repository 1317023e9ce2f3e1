"""The pass over every trace header (convert's first step), on the ~500 MB file made by
benchmarks/convert.py: seisbatch's reader (memory maps advised as needed) in one process against
the same pass through plain numpy memory maps, the reader seisbatch had before, and against
convert's own scan, which --workers local Dask workers share in pieces (cluster start not timed).
Runs alternate, each in a fresh process; "cold" runs first drop the file from the page cache
(posix_fadvise DONTNEED), "warm" ones read it from the page cache. Prints every run and the
ratios of medians.

    python benchmarks/header_scan.py [--file benchmarks/output/bench_fmt5.sgy] [--runs 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _measure import evict  # noqa: E402

from seisbatch import convert, engine, segy_reader  # noqa: E402

FIELDS = [189, 193, 181, 185, 71]  # what convert reads: inline, crossline, cdp x/y, scalar


def plain_memmap(layout: segy_reader.SegyLayout, bytes_: list[int], traces_per_map: int = 2048) -> dict:
    """The baseline: the same strided pass through np.memmap, without read-ahead advice."""
    order = ">" if layout.endian == "big" else "<"
    out = {b: np.empty(layout.n_traces, np.int64) for b in bytes_}
    for start in range(0, layout.n_traces, traces_per_map):
        n = min(traces_per_map, layout.n_traces - start)
        mm = np.memmap(layout.path, dtype=np.uint8, mode="r", offset=layout.data_offset + start * layout.trace_bytes,
                       shape=(n, layout.trace_bytes))
        for b in bytes_:
            w = segy_reader.field_width(b)
            out[b][start : start + n] = np.ascontiguousarray(mm[:, b - 1 : b - 1 + w]).view(f"{order}i{w}").ravel()
        del mm
    return out


def one_run(path: str, which: str, workers: int) -> None:
    layout = segy_reader.scan(path)
    if which == "workers":
        with engine.dask_client(workers=workers) as client:
            client.wait_for_workers(workers)
            t = time.perf_counter()
            convert.scan_header_fields(client, layout, FIELDS)
            print(time.perf_counter() - t)
        return
    t = time.perf_counter()
    (segy_reader.read_header_fields if which == "seisbatch" else plain_memmap)(layout, FIELDS)
    print(time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--file", default=os.path.join(os.path.dirname(__file__), "output", "bench_fmt5.sgy"))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="local Dask workers of the shared scan")
    p.add_argument("--run-of", nargs=2, help=argparse.SUPPRESS)  # internal: one timed pass in this process
    args = p.parse_args()
    if args.run_of:
        one_run(*args.run_of, args.workers)
        return
    if not os.path.exists(args.file):
        sys.exit(f"{args.file}: no such file; run benchmarks/convert.py first to make it")
    size = os.path.getsize(args.file) / 1e6
    for state in ("cold", "warm"):
        runs: dict[str, list[float]] = {"plain-memmap": [], "seisbatch": [], "workers": []}
        for _ in range(args.runs):
            for which in runs:
                if state == "cold":
                    evict(args.file)
                else:
                    convert.file_digest(args.file)  # every page in the cache
                res = subprocess.run([sys.executable, __file__, "--run-of", args.file, which, "--workers",
                                      str(args.workers)], check=True, capture_output=True, text=True)
                runs[which].append(float(res.stdout.strip().splitlines()[-1]))
        for which, v in runs.items():
            print(f"{state} {which:<13} " + " ".join(f"{t:.3f}" for t in v) + " s")
        base, ours = statistics.median(runs["plain-memmap"]), statistics.median(runs["seisbatch"])
        shared = statistics.median(runs["workers"])
        print(f"{state}: seisbatch's reader scans the headers of {size:.0f} MB in {ours:.3f} s, "
              f"{base / ours:.2f} x faster than plain memory maps ({base:.3f} s); shared by {args.workers} workers "
              f"{shared:.3f} s, {ours / shared:.2f} x the one-process scan (medians)")


if __name__ == "__main__":
    main()
