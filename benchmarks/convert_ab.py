"""A/B of convert speed between an earlier commit and this checkout: the same ~500 MB file (made
by benchmarks/convert.py), runs alternating baseline/current, each in a fresh Python process with
a freshly started local cluster (start not timed). Prints every run and the median and best-run
ratios, so a change is judged against a baseline measured in the same run on a noisy machine.

    python benchmarks/convert_ab.py --baseline 060de32 [--formats 5,1] [--runs 5] [--workers 2] [--chunks 4,4,3000]

--chunks converts into other chunks than the default (32, 32, 512): small ones make many blocks
(4,4,3000: 2601 blocks of 16 traces), where what the client does per block shows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def one_run(tree: str, src: str, out: str, workers: int, chunks: str) -> None:
    """Convert ``src`` with the seisbatch package of ``tree``; prints the seconds (run in a child)."""
    import time

    sys.path.insert(0, tree)
    from seisbatch import convert, engine

    shutil.rmtree(out, ignore_errors=True)
    with engine.dask_client(workers=workers) as client:
        client.wait_for_workers(workers)
        t = time.perf_counter()
        convert.convert_segy(src, out, client=client, chunks=tuple(int(v) for v in chunks.split(",")) if chunks else None)
        print(time.perf_counter() - t)
    shutil.rmtree(out, ignore_errors=True)


def timed(tree: str, src: str, out: str, workers: int, chunks: str) -> float:
    res = subprocess.run([sys.executable, __file__, "--run-of", tree, src, out, str(workers), chunks],
                         check=True, capture_output=True, text=True, cwd=tree)
    return float(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", help="commit to compare against (checked out in a temporary git worktree)")
    p.add_argument("--formats", default="5,1", help="sample formats (files made by benchmarks/convert.py)")
    p.add_argument("--runs", type=int, default=5, help="runs of each side")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chunks", default="", help="chunk shape, e.g. 4,4,3000 (default: seisbatch's)")
    p.add_argument("--workdir", default=os.path.join(HERE, "output"))
    p.add_argument("--run-of", nargs=5, help=argparse.SUPPRESS)  # internal: one timed conversion
    args = p.parse_args()
    if args.run_of:
        one_run(args.run_of[0], args.run_of[1], args.run_of[2], int(args.run_of[3]), args.run_of[4])
        return
    if not args.baseline:
        p.error("--baseline is required")
    base = tempfile.mkdtemp(prefix="seisbatch-ab-")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", "-q", base, args.baseline], check=True)
    try:
        for fmt in args.formats.split(","):
            src = os.path.join(args.workdir, f"bench_fmt{fmt}.sgy")
            if not os.path.exists(src):
                sys.exit(f"{src}: no such file; run benchmarks/convert.py first to make it")
            out = os.path.join(args.workdir, f"ab_fmt{fmt}.zarr")
            runs: dict[str, list[float]] = {"baseline": [], "current": []}
            for _ in range(args.runs):
                runs["baseline"].append(timed(base, src, out, args.workers, args.chunks))
                runs["current"].append(timed(ROOT, src, out, args.workers, args.chunks))
            for k, v in runs.items():
                print(f"format {fmt} {k:<8} " + " ".join(f"{t:.2f}" for t in v))
            b, c = runs["baseline"], runs["current"]
            print(f"format {fmt}: current is {statistics.median(b) / statistics.median(c):.2f} x faster (medians), "
                  f"{min(b) / min(c):.2f} x (best runs) than {args.baseline}")
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base], check=False)


if __name__ == "__main__":
    main()
