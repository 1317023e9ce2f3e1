"""2D lines, two comparisons in one run, each against the way it was done before:

1. one short line: `denoise` cut along samples (a block per task slot, the default) against the line
   as one block (setting ``denoise.min-tasks`` 1). A line shorter than one trace chunk (1024 traces)
   was a single block: one worker denoised it while the others idled. Both run on the same warm
   local cluster (a first untimed run loads the model on every worker), alternating, each into a
   fresh output array.
2. a survey of several lines (``--lines`` copies of the line): one `seisbatch denoise` command
   per line, as a shell loop does, against one command for all of them (one cluster, whose workers
   load the model once). Both as command-line runs, alternating, with ``--overwrite``.

    python benchmarks/denoise_lines.py [--line tests/data/gundih_2D_Xline_12680.sgy] [--workers 2] [--rounds 3] [--lines 4]

Printed: every run's seconds, the best and median of each, and their ratios (above 1: the new way
is faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

import dask.config

from seisbatch import convert, denoise, engine

OUT = os.path.join(os.path.dirname(__file__), "output")
LINE = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gundih_2D_Xline_12680.sgy")


def run(store: str, client, workers: int, min_tasks: int | None, name: str) -> tuple[float, int]:
    """Seconds of one warm denoise into a fresh array, and its number of blocks."""
    with dask.config.set({"seisbatch.denoise.min-tasks": min_tasks}):
        t = time.perf_counter()
        r = denoise.denoise(store, spec=denoise.DenoiseSpec(output=name), client=client, workers=workers, overwrite=True)
        return time.perf_counter() - t, r["tasks"]


def report(title: str, times: dict[str, list[float]]) -> None:
    (old, t_old), (new, t_new) = times.items()
    print(title)
    for k, v in times.items():
        print(f"  {k:>16}: best {min(v):.2f} s, median {statistics.median(v):.2f} s  ({', '.join(f'{x:.2f}' for x in v)})")
    print(f"  {new} against {old}: {min(t_old) / min(t_new):.2f}x faster by best runs, "
          f"{statistics.median(t_old) / statistics.median(t_new):.2f}x by medians")


def line_args(p: argparse.ArgumentParser) -> None:
    """The options this script and batch_lines.py share: the line, the workers, the rounds."""
    p.add_argument("--line", default=LINE, help="a 2D SEG-Y line (default: the Gundih line in tests/data)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="timed runs of each variant (default 3)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    line_args(p)
    p.add_argument("--lines", type=int, default=4, help="lines of the survey in comparison 2 (default 4; 0: skip it)")
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    stores = [os.path.join(OUT, f"denoise-line{i}.zarr") for i in range(max(a.lines, 1))]
    cut: dict[str, list[float]] = {"one block": [], "cut": []}
    with engine.dask_client(workers=a.workers) as c:
        c.wait_for_workers(a.workers)
        for s in stores:
            convert.convert_segy(a.line, s, client=c, overwrite=True)
        run(stores[0], c, a.workers, None, "warmup")  # every worker loads the model
        for i in range(a.rounds):
            for label, mt in (("one block", 1), ("cut", None)):
                s, n = run(stores[0], c, a.workers, mt, f"round{i}")
                cut[label].append(s)
                print(f"round {i + 1}: {label:>9} ({n} block{'s' if n > 1 else ''}): {s:.2f} s", flush=True)
    survey: dict[str, list[float]] = {"a command each": [], "one command": []}
    cli = [sys.executable, "-m", "seisbatch", "denoise", "--workers", str(a.workers), "--quiet", "--overwrite"]
    for i in range(a.rounds if a.lines else 0):
        for label in survey:
            t = time.perf_counter()
            for argv in ([cli + [s] for s in stores] if label == "a command each" else [cli + stores]):
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            survey[label].append(time.perf_counter() - t)
            print(f"round {i + 1}: {a.lines} lines, {label}: {survey[label][-1]:.2f} s", flush=True)
    for s in stores:
        shutil.rmtree(s, ignore_errors=True)
    print(f"{os.path.basename(a.line)}, {a.workers} workers, {os.cpu_count()} cores")
    report("1. one line, warm cluster:", cut)
    if a.lines:
        report(f"2. {a.lines} lines, command-line runs (cluster start included):", survey)


if __name__ == "__main__":
    main()
