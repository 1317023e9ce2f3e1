"""Where a conversion block's time goes, on the ~500 MB file that benchmarks/convert.py makes.

    python benchmarks/convert_steps.py [--format 5] [--rounds 2] [--pool 2]

1. Steps: the calls of ``convert.segy_block_task`` (read, decode, the writes of amplitude,
   headers, mask and block log, the statistics) timed one by one over every block of the file,
   in this one process, into a store converted first (not timed). Milliseconds per block.
2. Writers: the same blocks read, decoded and summarised by seisbatch's functions, then written
   either through zarr (as the workers write: zarrs' codec pipeline by default, setting seisbatch.codec-pipeline) or as plain files (each chunk compressed with
   the same Blosc settings and written as one file), by one process and by a pool of ``--pool``
   processes, in alternating rounds. Wall seconds for all blocks: whether a second process helps.
   "chunkwise" writes plain files too, but decodes, summarises and compresses each 2 MiB chunk
   while it is in the cache instead of the whole block at each step.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import time
import uuid

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from convert import make_file, plain_amplitude_codec, read_file_once  # noqa: E402

from seisbatch import convert, engine, geometry, segy_reader, stats, store  # noqa: E402
from seisbatch.segy_format import decode  # noqa: E402

STEPS = ("read", "decode", "write amplitude", "write headers", "statistics", "write mask", "write block log")


def plan(src: str) -> tuple[segy_reader.SegyLayout, list[tuple[int, tuple[slice, ...], np.ndarray]]]:
    """The file's layout and its blocks (index, grid slices, file trace of each cell)."""
    lay = segy_reader.scan(src)
    fields = segy_reader.read_header_fields(lay, [189, 193])
    geom = geometry.detect(fields[189], fields[193], "auto", src)
    g2f = geometry.grid_to_file(geom.grid_index, geom.grid_shape)
    chunks = store.default_chunks(geom.dims, lay.n_samples)
    return lay, [(i, b, g2f[b]) for i, b in enumerate(convert.plan_blocks(geom.grid_shape, chunks[:-1]))]


def time_steps(src: str, dst: str, rounds: int) -> None:
    """Part 1: each step of every block, one process; every cell of the benchmark file is live."""
    lay, blocks = plan(src)
    store.create_block_log(dst, len(blocks), stats.ROW_LENGTH)  # the finished store dropped its log
    for r in range(rounds):
        run, spent = uuid.uuid4().hex, dict.fromkeys(STEPS, 0.0)
        for i, b, g2f in blocks:
            t = [time.perf_counter()]
            records = segy_reader.read_selected(lay, g2f.ravel())
            t.append(time.perf_counter())
            values = decode(records["samples"], lay.format)
            t.append(time.perf_counter())
            store.writable(dst, "amplitude", run)[b] = values.reshape(g2f.shape + (lay.n_samples,))
            t.append(time.perf_counter())
            store.writable(dst, "raw_headers", run)[b] = records["header"].reshape(g2f.shape + (store.HEADER_BYTES,))
            t.append(time.perf_counter())
            part = stats.block_stats(values)
            t.append(time.perf_counter())
            store.writable(dst, "trace_mask", run)[b] = g2f >= 0
            t.append(time.perf_counter())
            store.write_block_row(dst, i, stats.to_row(dict(part, raw_traces=0)), run)
            t.append(time.perf_counter())
            for k, name in enumerate(STEPS):
                spent[name] += t[k + 1] - t[k]
        cells = "  ".join(f"{k} {v / len(blocks) * 1e3:.2f}" for k, v in spent.items())
        print(f"round {r + 1}, ms per block: {cells}  | total {sum(spent.values()) / len(blocks) * 1e3:.1f}", flush=True)


def _write_blocks(src: str, dst: str, how: str, items: list) -> float:
    """Part 2, in a pool process: read, decode, summarise and write ``items``; returns seconds."""
    lay = segy_reader.scan(src)
    codec = plain_amplitude_codec()
    run = uuid.uuid4().hex
    t0 = time.perf_counter()
    step = store.default_chunks(("inline", "crossline"), lay.n_samples)[-1]
    for i, b, g2f in items:
        samples = segy_reader.read_selected(lay, g2f.ravel())["samples"]
        if how == "chunkwise":  # each chunk decoded, summarised, compressed and written while in the cache
            for s in range(0, lay.n_samples, step):
                chunk = decode(samples[:, s : s + step], lay.format)
                stats.block_stats(chunk)
                with open(os.path.join(dst + ".plain", f"{i}.{s}"), "wb") as fh:
                    fh.write(codec.encode(chunk))
            continue
        values = decode(samples, lay.format)
        stats.block_stats(values)
        amp = values.reshape(g2f.shape + (lay.n_samples,))
        if how == "zarr":
            store.writable(dst, "amplitude", run)[b] = amp
        else:
            for s in range(0, lay.n_samples, step):
                with open(os.path.join(dst + ".plain", f"{i}.{s}"), "wb") as fh:
                    fh.write(codec.encode(np.ascontiguousarray(amp[..., s : s + step])))
    return time.perf_counter() - t0


def compare_writers(src: str, dst: str, rounds: int, pool_size: int) -> None:
    """Part 2: zarr (with the codec pipeline in use) against plain files, one process and ``pool_size`` processes."""
    _, blocks = plan(src)
    os.makedirs(dst + ".plain", exist_ok=True)
    os.environ.update(engine.worker_environ())  # the workers' malloc settings, read by the spawned processes
    with multiprocessing.get_context("spawn").Pool(pool_size) as pool:
        pool.map(abs, range(pool_size))  # started before timing, as a cluster is
        for r in range(rounds):
            for how in ("zarr", "plain", "chunkwise"):
                one = pool.apply(_write_blocks, (src, dst, how, blocks))
                t0 = time.perf_counter()
                pool.starmap(_write_blocks, [(src, dst, how, blocks[k::pool_size]) for k in range(pool_size)])
                many = time.perf_counter() - t0
                print(f"round {r + 1}, {how:9s}: one process {one:.3f} s, {pool_size} processes {many:.3f} s wall "
                      f"({one / many:.2f}x)", flush=True)
    shutil.rmtree(dst + ".plain", ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", type=int, default=5, help="sample format of the benchmark file (5 IEEE, 1 IBM)")
    p.add_argument("--size-mb", type=float, default=500)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pool", type=int, default=2, help="processes of part 2's pool")
    p.add_argument("--workdir", default=os.path.join(os.path.dirname(__file__), "output"))
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    src = os.path.join(args.workdir, f"bench_fmt{args.format}.sgy")
    make_file(src, args.format, args.size_mb)
    read_file_once(src)
    dst = src + ".steps.zarr"
    shutil.rmtree(dst, ignore_errors=True)
    convert.convert_segy(src, dst, workers=1, overwrite=True)
    try:
        time_steps(src, dst, args.rounds)
        compare_writers(src, dst, args.rounds, args.pool)
    finally:
        shutil.rmtree(dst, ignore_errors=True)


if __name__ == "__main__":
    main()
