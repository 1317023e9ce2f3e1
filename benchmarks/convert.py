"""Convert throughput and peak memory on a generated ~500 MB 3D SEG-Y, IEEE and IBM, beside two
baselines measured in the same run: segyio reading every trace into memory (the floor) and TGS
MDIO's SEG-Y import (when the multidimio package is importable by the Python given).

    python benchmarks/convert.py [--size-mb 500] [--workers 2] [--repeat 3] [--mdio-python PATH]

Every contender starts from the same state, page cache warm (or, with --cold, the input dropped
from the page cache before every run, as for a survey larger than memory; the zarr-write yardstick
reads its input before timing either way): the floor runs in a fresh Python
process each time (timed from just before the read, imports excluded), seisbatch on a freshly
started local cluster each time (cluster start excluded), MDIO as its own process (all included).
seisbatch runs with its default amplitude compression (lz4) and, as "seisbatch-none", without.
Each of the floor and seisbatch runs --repeat times; the ratios of best runs, of medians and of
first runs are printed, and every run's time (the floor's best run swings most from day to day:
0.15-0.29 s on the same VM, a read at memory-copy speed). (On a VM the first run in a while is slower: memory that has
not been touched recently is slow to map again. That hits the floor's 490 MB array most.)
With MDIO, a "from-mdio" row times seisbatch converting the MDIO store just made (MB/s of the
SEG-Y file's size, for comparison). A yardstick row, "zarr-write", times only the writing of the already decoded amplitudes into
Zarr (seisbatch's chunks and codec, --workers processes): what no conversion into Zarr can avoid.
Two bound rows, "bound" (lz4) and "bound-none", time the conversion's own work with no framework:
the header scan and geometry, then every block read, decoded and summarised by seisbatch's own
functions and written as plain chunk, header, mask and statistics files by a pool of --workers
processes (no Dask, no zarr-python or zarrs, no store template): how close any conversion could come.
Peak memory: the most resident memory of the contender's process tree above what it held before.

MDIO may live in its own virtual environment: pass its python with --mdio-python or $MDIO_PYTHON
(default: this Python, if it can import mdio). MDIO 1.1.3's `mdio segy import` command is broken,
so _mdio_import.py calls its Python API.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

import numpy as np
import segyio

sys.path.insert(0, os.path.dirname(__file__))
from _measure import evict, measure  # noqa: E402

from seisbatch import convert, engine, geometry, segy_reader, stats, store, synthetic  # noqa: E402
from seisbatch.segy_format import EXACT_IN_FLOAT32, decode, lossy_rows  # noqa: E402

MB = 1e6


def make_file(path: str, fmt: int, size_mb: float) -> None:
    ns = 3000
    per_trace = 240 + 4 * ns
    side = int(np.sqrt(size_mb * MB / per_trace))
    spec = synthetic.SurveySpec(n_inline=side, n_crossline=side, n_samples=ns, seed=5)
    if not (os.path.exists(path) and os.path.getsize(path) == 3600 + side * side * per_trace):
        synthetic.write_segy(path, spec, fmt=fmt, snr_db=10)


def read_file_once(path: str) -> None:
    """Warm the page cache so every contender starts from the same state."""
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass


def floor_in_this_process(path: str) -> None:
    """segyio reads every trace into memory; prints the measurement as JSON (run in a child)."""
    with measure() as m:
        with segyio.open(path, ignore_geometry=True) as f:
            data = f.trace.raw[:]
    m["check"] = float(np.abs(data).max())
    print(json.dumps(m))


_CUBE: np.ndarray | None = None  # the decoded volume, shared with forked writers


def _write_blocks(out: str, blocks: list) -> None:
    import zarr

    arr = zarr.open_array(out, mode="r+").with_config({"write_empty_chunks": True})  # as seisbatch writes
    for blk in blocks:
        arr[blk] = _CUBE[blk]


def zarr_write_in_this_process(path: str, out: str, workers: int) -> None:
    """Not a contender, a yardstick: only the writing of the decoded amplitudes (read first, not
    timed) into Zarr with seisbatch's chunks and codec, one chunk-aligned block per call, from
    ``workers`` forked processes as the conversion uses worker processes; prints the measurement
    as JSON (run in a child)."""
    global _CUBE
    import multiprocessing

    import zarr

    with segyio.open(path, ignore_geometry=True) as f:
        data = f.trace.raw[:]
    side = int(round(np.sqrt(data.shape[0])))
    _CUBE = data.reshape(side, side, -1)
    chunks = store.default_chunks(("inline", "crossline"), _CUBE.shape[-1])
    blocks = geometry.plan_blocks(_CUBE.shape[:2], chunks[:2])
    shutil.rmtree(out, ignore_errors=True)
    ctx = multiprocessing.get_context("fork")  # before zarr starts its event-loop thread here
    with ctx.Pool(workers) as pool:
        pool.apply(zarr.create_array, (out,), dict(shape=_CUBE.shape, chunks=chunks, dtype="float32",
                                                   compressors=store.amplitude_codec()))
        with measure() as m:
            pool.starmap(_write_blocks, [(out, blocks[i::workers]) for i in range(workers)])
    print(json.dumps(m))


def plain_amplitude_codec(compression: str | None = None):
    """numcodecs' Blosc with the settings of seisbatch's amplitude codec ``compression`` (default
    the setting), to compress chunks without zarr-python; None for no compression."""
    import numcodecs

    codec = store.amplitude_codec(compression)
    if codec is None:
        return None
    shuffle = {"noshuffle": numcodecs.Blosc.NOSHUFFLE, "shuffle": numcodecs.Blosc.SHUFFLE,
               "bitshuffle": numcodecs.Blosc.BITSHUFFLE}[codec.shuffle.value]
    return numcodecs.Blosc(codec.cname.value, codec.clevel, shuffle)


_BOUND: dict = {}  # per bound worker: the file's layout and the codecs


def _bound_start(path: str, compression: str) -> None:
    import numcodecs

    _BOUND["layout"] = segy_reader.scan(path)
    _BOUND["amp"] = plain_amplitude_codec(compression)
    _BOUND["hdr"] = numcodecs.Zstd(level=0)  # zarr v3's default codec, which seisbatch's headers use


def _bound_block(out: str, index: int, order: np.ndarray, grid: tuple[int, ...], chunk_samples: int) -> None:
    """One block as a conversion with no framework would do it: seisbatch's own read, decode,
    exactness check (IBM) and statistics, then the same chunks, headers, mask and statistics row as plain files."""
    lay, codec = _BOUND["layout"], _BOUND["amp"]
    records = segy_reader.read_selected(lay, order)
    values = decode(records["samples"], lay.format)
    if lay.format not in EXACT_IN_FLOAT32:  # which traces float32 cannot give back exactly, as seisbatch checks
        lossy_rows(records["samples"], values, lay.format, lay.endian)
    amp = values.reshape(grid + (lay.n_samples,))
    row = stats.to_row(dict(stats.block_stats(values), raw_traces=0))
    for s in range(0, lay.n_samples, chunk_samples):
        chunk = np.ascontiguousarray(amp[..., s : s + chunk_samples])
        with open(os.path.join(out, f"a.{index}.{s}"), "wb") as fh:
            fh.write(codec.encode(chunk) if codec else chunk.data)
    for name, data in (("h", _BOUND["hdr"].encode(np.ascontiguousarray(records["header"]))),
                       ("m", np.ones(grid, bool).tobytes()), ("r", row.tobytes())):
        with open(os.path.join(out, f"{name}.{index}"), "wb") as fh:
            fh.write(data)


def bound_in_this_process(path: str, out: str, workers: int, compression: str) -> None:
    """Not a contender, a bound: the conversion's own work with no Dask and no zarr-python. The
    header scan (one process, as seisbatch on one file piece), the geometry, then every block on a
    pool of ``workers`` processes started (not timed) with the environment of seisbatch's workers,
    writing plain files; prints the measurement as JSON (run in a child)."""
    import multiprocessing

    os.environ.update(engine.worker_environ())  # read by the spawned processes at their start
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_bound_start, initargs=(path, compression)) as pool:
        pool.map(abs, range(workers))  # started, as seisbatch's cluster is before it is timed
        with measure() as m:
            layout = segy_reader.scan(path)
            fields = segy_reader.read_header_fields(layout, [189, 193])
            geom = geometry.detect(fields[189], fields[193], "auto", path)
            g2f = geometry.grid_to_file(geom.grid_index, geom.grid_shape)  # every cell filled: the benchmark's files have no gaps
            chunks = store.default_chunks(geom.dims, layout.n_samples)
            blocks = geometry.plan_blocks(geom.grid_shape, chunks[:-1])
            pool.starmap(_bound_block, [(out, i, g2f[b].ravel(), g2f[b].shape, chunks[-1]) for i, b in enumerate(blocks)],
                         chunksize=1)
    shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(m))


def in_fresh_process(*args: str, before=None) -> dict:
    """Run this script with ``args`` (one of its internal measurements) in a new Python process;
    ``before()`` runs first, if given."""
    if before:
        before()
    res = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def seisbatch_convert(path: str, out: str, workers: int, compression: str | None = None, before=None,
                      converter=convert.convert_segy) -> dict:
    """One timed conversion on a freshly started cluster (``converter``: convert_mdio for the
    MDIO store that MDIO just made, the other direction of a migration)."""
    shutil.rmtree(out, ignore_errors=True)
    with engine.dask_client(workers=workers) as client:
        client.wait_for_workers(workers)
        if before:
            before()
        with measure() as m:
            converter(path, out, client=client, compression=compression)
    return m


def best_of(fn, repeat: int) -> dict:
    """The fastest of ``repeat`` runs, with every run's seconds and the highest peak."""
    runs = [fn() for _ in range(repeat)]
    best = min(runs, key=lambda m: m["seconds"])
    peak = max(m["peak_rss"] - m["baseline_rss"] for m in runs)
    return dict(best, peak_above=peak, runs=[m["seconds"] for m in runs])


def mdio_import(python: str, path: str, out: str, before=None) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    if before:
        before()
    script = os.path.join(os.path.dirname(__file__), "_mdio_import.py")
    with measure() as m:
        subprocess.run([python, script, path, out], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return m


def find_mdio(python: str | None) -> str | None:
    candidate = python or sys.executable
    ok = subprocess.run([candidate, "-c", "import mdio"], capture_output=True).returncode == 0
    return candidate if ok else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mb", type=float, default=500)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3, help="runs of the floor and of seisbatch (best one counts)")
    p.add_argument("--formats", default="5,1", help="sample formats to test (5 IEEE, 1 IBM)")
    p.add_argument("--cold", action="store_true",
                   help="drop the input file from the page cache before every run (as for a survey larger than memory) "
                   "instead of warming it once")
    p.add_argument("--workdir", default=os.path.join(os.path.dirname(__file__), "output"))
    p.add_argument("--mdio-python", default=os.environ.get("MDIO_PYTHON"), help="a Python that can import mdio")
    p.add_argument("--floor-of", help=argparse.SUPPRESS)  # internal: measure the floor in this (fresh) process
    p.add_argument("--zarr-write-of", nargs=3, help=argparse.SUPPRESS)  # internal: the Zarr write yardstick
    p.add_argument("--bound-of", nargs=4, help=argparse.SUPPRESS)  # internal: the no-framework bound
    args = p.parse_args()
    if args.bound_of:
        bound_in_this_process(args.bound_of[0], args.bound_of[1], int(args.bound_of[2]), args.bound_of[3])
        return
    if args.floor_of:
        floor_in_this_process(args.floor_of)
        return
    if args.zarr_write_of:
        zarr_write_in_this_process(args.zarr_write_of[0], args.zarr_write_of[1], int(args.zarr_write_of[2]))
        return
    mdio = find_mdio(args.mdio_python)
    if not mdio:
        print("multidimio not found: the MDIO baseline is skipped")
    os.makedirs(args.workdir, exist_ok=True)
    rows = []
    for fmt in (int(f) for f in args.formats.split(",")):
        src = os.path.join(args.workdir, f"bench_fmt{fmt}.sgy")
        make_file(src, fmt, args.size_mb)
        size = os.path.getsize(src) / MB
        read_file_once(src)
        cold = (lambda: evict(src)) if args.cold else None
        res = {"floor": best_of(lambda: in_fresh_process("--floor-of", src, before=cold), args.repeat),
               "seisbatch": best_of(lambda: seisbatch_convert(src, src + ".zarr", args.workers, before=cold), args.repeat),
               "seisbatch-none": best_of(lambda: seisbatch_convert(src, src + ".zarr", args.workers, "none", before=cold),
                                         args.repeat)}
        res["zarr-write"] = best_of(lambda: in_fresh_process("--zarr-write-of", src, src + ".write.zarr", str(args.workers)),
                                    args.repeat)
        shutil.rmtree(src + ".write.zarr", ignore_errors=True)
        for comp, name in (("lz4", "bound"), ("none", "bound-none")):
            res[name] = best_of(lambda: in_fresh_process("--bound-of", src, src + ".bound", str(args.workers), comp,
                                                         before=cold), args.repeat)
        if mdio:
            res["mdio"] = best_of(lambda: mdio_import(mdio, src, src + ".mdio", before=cold), 1)
            res["from-mdio"] = best_of(lambda: seisbatch_convert(src + ".mdio", src + ".from-mdio.zarr", args.workers,
                                                                 converter=convert.convert_mdio),
                                       args.repeat)
            shutil.rmtree(src + ".from-mdio.zarr", ignore_errors=True)
        for name, m in res.items():
            rows.append((fmt, name, size, m["seconds"], size / m["seconds"], m["peak_above"] / MB,
                         " ".join(f"{t:.2f}" for t in m["runs"])))
        sb = size / res["seisbatch"]["seconds"]
        fl = size / res["floor"]["seconds"]
        first = res["floor"]["runs"][0] / res["seisbatch"]["runs"][0]
        med = statistics.median(res["floor"]["runs"]) / statistics.median(res["seisbatch"]["runs"])
        med_bound = statistics.median(res["floor"]["runs"]) / statistics.median(res["bound"]["runs"])
        nc = size / res["seisbatch-none"]["seconds"]
        line = (f"format {fmt}: seisbatch {sb:.0f} MB/s = {sb / fl:.2f} x the segyio read floor ({fl:.0f} MB/s), best runs; "
                f"medians: {med:.2f} x; first runs: {first:.2f} x")
        if "mdio" in res:
            md = size / res["mdio"]["seconds"]
            line += f"; {sb / md:.2f} x MDIO ({md:.0f} MB/s)"
        line += f"; without compression {nc:.0f} MB/s = {nc / fl:.2f} x the floor"
        bd, bn = size / res["bound"]["seconds"], size / res["bound-none"]["seconds"]
        line += (f"; with no Dask and no zarr-python (bound) {bd:.0f} MB/s = {bd / fl:.2f} x the floor (without compression "
                 f"{bn:.0f} MB/s = {bn / fl:.2f} x), and seisbatch = {sb / bd:.2f} x that bound ({nc / bn:.2f} x without); "
                 f"bound by medians {med_bound:.2f} x the floor")
        rows.append(line)
    print(f"\nconvert benchmark: {args.size_mb:.0f} MB files, {args.workers} workers, {os.cpu_count()} cores, "
          f"best of {args.repeat}, input {'evicted from the page cache before every run' if args.cold else 'in the page cache'}")
    print(f"{'fmt':>3} {'contender':<14} {'MB':>7} {'seconds':>8} {'MB/s':>7} {'peak MB above idle':>19}  every run (s)")
    for r in rows:
        if isinstance(r, str):
            print("   " + r)
        else:
            print(f"{r[0]:>3} {r[1]:<14} {r[2]:>7.0f} {r[3]:>8.2f} {r[4]:>7.0f} {r[5]:>19.0f}  {r[6]}")


if __name__ == "__main__":
    main()
