"""A 2D survey of several lines through `convert` and `export`: one command per line, as a shell
loop does, against one command for all of them (one cluster for the lines). Command-line runs,
alternating, cluster start included; the lines are copies of one real line under other names.

    python benchmarks/batch_lines.py [--line tests/data/gundih_2D_Xline_12680.sgy] [--lines 8] [--workers 2] [--rounds 3]

Printed: every run's seconds, the best and median of each, and their ratios (above 1: one command
is faster). Every exported file is compared with its line byte for byte (outside the timing).
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from denoise_lines import OUT, line_args, report  # noqa: E402


def timed(argvs: list[list[str]]) -> float:
    t = time.perf_counter()
    for argv in argvs:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    line_args(p)
    p.add_argument("--lines", type=int, default=8, help="lines of the survey (default 8)")
    a = p.parse_args()
    work = os.path.join(OUT, "batch-lines")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "sgy"))
    lines = [os.path.join(work, "sgy", f"line{i:03d}.sgy") for i in range(a.lines)]
    for path in lines:
        shutil.copyfile(a.line, path)
    stores = [os.path.join(work, "zarr", f"line{i:03d}.zarr") for i in range(a.lines)]
    exported = [os.path.join(work, "out", f"line{i:03d}_amplitude.sgy") for i in range(a.lines)]
    cli = [sys.executable, "-m", "seisbatch"]
    opts = ["--workers", str(a.workers), "--quiet", "--overwrite"]
    conv: dict[str, list[float]] = {"a command each": [], "one command": []}
    expo: dict[str, list[float]] = {"a command each": [], "one command": []}
    for r in range(a.rounds):
        for label in conv:
            for d in ("zarr", "out"):
                shutil.rmtree(os.path.join(work, d), ignore_errors=True)
                os.makedirs(os.path.join(work, d))
            if label == "a command each":
                conv[label].append(timed([cli + ["convert", src, dst] + opts for src, dst in zip(lines, stores)]))
                expo[label].append(timed([cli + ["export", s, out] + opts for s, out in zip(stores, exported)]))
            else:
                conv[label].append(timed([cli + ["convert", *lines, os.path.join(work, "zarr")] + opts]))
                expo[label].append(timed([cli + ["export", *stores, os.path.join(work, "out")] + opts]))
            if not all(filecmp.cmp(src, out, shallow=False) for src, out in zip(lines, exported)):
                raise SystemExit(f"round {r + 1}, {label}: an exported line differs from its input")
            print(f"round {r + 1}: {label:>14}: convert {conv[label][-1]:.2f} s, export {expo[label][-1]:.2f} s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{a.lines} copies of {os.path.basename(a.line)}, {a.workers} workers, {os.cpu_count()} cores")
    report(f"convert, {a.lines} lines:", conv)
    report(f"export, {a.lines} lines:", expo)


if __name__ == "__main__":
    main()
