"""A/B of convert speed (or, with --job export, of export speed) between an earlier commit and
this checkout: the same ~500 MB file (made by benchmarks/convert.py), runs alternating
baseline/current, each in a fresh Python process with a freshly started local cluster (start not
timed). Prints every run and the median and best-run ratios, so a change is judged against a
baseline measured in the same run on a noisy machine.

    python benchmarks/convert_ab.py --baseline 060de32 [--formats 5,1] [--runs 5] [--workers 2] [--chunks 4,4,3000]
    python benchmarks/convert_ab.py --job export --baseline 123af60

--chunks converts into other chunks than the default (32, 32, 512): small ones make many blocks
(4,4,3000: 2601 blocks of 16 traces), where what the client does per block shows. For --job
export the store is converted once by this checkout (not timed) and both sides export it; every
exported file is checked to equal the original byte for byte (outside the timing).
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


def one_run(job: str, tree: str, src: str, out: str, workers: int, chunks: str) -> None:
    """Convert ``src`` (a SEG-Y file) or export it (a store made from ``orig``, given as
    ``src:orig``) with the seisbatch package of ``tree``; prints the seconds (run in a child)."""
    import filecmp
    import time

    sys.path.insert(0, tree)
    from seisbatch import convert, engine, export

    shutil.rmtree(out, ignore_errors=True)
    with engine.dask_client(workers=workers) as client:
        client.wait_for_workers(workers)
        t = time.perf_counter()
        if job == "convert":
            convert.convert_segy(src, out, client=client, chunks=tuple(int(v) for v in chunks.split(",")) if chunks else None)
        else:
            store, orig = src.split(":")
            export.export_segy(store, out, client=client, overwrite=True)
        print(time.perf_counter() - t)
    if job == "export" and not filecmp.cmp(orig, out, shallow=False):
        sys.exit(f"{out} differs from {orig}")
    shutil.rmtree(out, ignore_errors=True) if os.path.isdir(out) else os.remove(out)


def timed(job: str, tree: str, src: str, out: str, workers: int, chunks: str) -> float:
    res = subprocess.run([sys.executable, __file__, "--run-of", job, tree, src, out, str(workers), chunks],
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
    p.add_argument("--job", choices=("convert", "export"), default="convert", help="what is timed (default convert)")
    p.add_argument("--run-of", nargs=6, help=argparse.SUPPRESS)  # internal: one timed run
    args = p.parse_args()
    if args.run_of:
        job, tree, src, out, workers, chunks = args.run_of
        one_run(job, tree, src, out, int(workers), chunks)
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
            job_src = src
            if args.job == "export":
                made = os.path.join(args.workdir, f"ab_fmt{fmt}.source.zarr")
                shutil.rmtree(made, ignore_errors=True)
                subprocess.run([sys.executable, "-m", "seisbatch", "convert", src, made, "--quiet"]
                               + (["--chunks", args.chunks] if args.chunks else []), check=True, cwd=ROOT)
                job_src, out = f"{made}:{src}", os.path.join(args.workdir, f"ab_fmt{fmt}.export.sgy")
            runs: dict[str, list[float]] = {"baseline": [], "current": []}
            for _ in range(args.runs):
                runs["baseline"].append(timed(args.job, base, job_src, out, args.workers, args.chunks))
                runs["current"].append(timed(args.job, ROOT, job_src, out, args.workers, args.chunks))
            if args.job == "export":
                shutil.rmtree(made, ignore_errors=True)
            for k, v in runs.items():
                print(f"format {fmt} {k:<8} " + " ".join(f"{t:.2f}" for t in v))
            b, c = runs["baseline"], runs["current"]
            print(f"format {fmt} {args.job}: current is {statistics.median(b) / statistics.median(c):.2f} x faster (medians), "
                  f"{min(b) / min(c):.2f} x (best runs) than {args.baseline}")
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base], check=False)


if __name__ == "__main__":
    main()
