"""A short 2D line: `denoise` cut along samples (one block per task slot, the default) against the
same line as one block (setting ``denoise.min-tasks`` 1, as before the cut existed), in one run.

    python benchmarks/denoise_line.py [--line tests/data/gundih_2D_Xline_12680.sgy] [--workers 2] [--rounds 3]

A line shorter than one trace chunk (1024 traces) is a single block: one worker denoises it while
the others idle. Both variants run on the same local cluster, warm (a first untimed run loads the
model on every worker), alternating, each round into a fresh output array. Printed: every run's
seconds, the best and median of each, and their ratio (uncut / cut: above 1 means the cut is faster).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--line", default=LINE, help="a 2D SEG-Y line (default: the Gundih line in tests/data)")
    p.add_argument("--workers", type=int, default=2, help="local worker processes (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="timed runs of each variant (default 3)")
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    store = os.path.join(OUT, "denoise-line.zarr")
    times: dict[str, list[float]] = {"one block": [], "cut": []}
    with engine.dask_client(workers=a.workers) as c:
        c.wait_for_workers(a.workers)
        convert.convert_segy(a.line, store, client=c, overwrite=True)
        run(store, c, a.workers, None, "warmup")  # every worker loads the model
        for i in range(a.rounds):
            for label, mt in (("one block", 1), ("cut", None)):
                s, n = run(store, c, a.workers, mt, f"round{i}")
                times[label].append(s)
                print(f"round {i + 1}: {label:>9} ({n} block{'s' if n > 1 else ''}): {s:.2f} s", flush=True)
    shutil.rmtree(store, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{os.path.basename(a.line)}, {a.workers} workers, {os.cpu_count()} cores")
    for k in times:
        print(f"  {k:>9}: best {best[k]:.2f} s, median {med[k]:.2f} s  ({', '.join(f'{v:.2f}' for v in times[k])})")
    print(f"  cut against one block: {best['one block'] / best['cut']:.2f}x faster by best runs, "
          f"{med['one block'] / med['cut']:.2f}x by medians")


if __name__ == "__main__":
    main()
