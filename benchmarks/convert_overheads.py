"""Where a conversion's time goes besides the block work, on the IEEE file of benchmarks/convert.py.

1. What a hand-written chunk writer (option (b) in the README's performance section) would buy:
   seisbatch's conversion with the amplitude chunks written as plain files by the workers
   themselves (encoded with numcodecs' twin of the store's codec, at the store's own chunk keys)
   instead of through zarr, everything else unchanged (Dask, the header scan, the store template,
   headers, mask and block log through zarr). The plain-writer store is read back through zarr
   and compared with the normal one, so the chunks it writes are valid Zarr.
2. What Dask costs on the client side: the CPU time of the client process during each conversion
   (its "IO loop" thread runs the local scheduler, the nannies and the client's comms), beside
   the conversion's wall time.

Runs alternate between the two writers in fresh processes on fresh local clusters (start not
timed). IEEE only: the plain writer handles fully live, lossless files like the benchmark's.

    python benchmarks/convert_overheads.py [--runs 5] [--workers 2]

Not a feature: a measurement for the decision the README's performance section asks for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import make_file, plain_amplitude_codec, read_file_once  # noqa: E402


def plain_block_task(layout, path, index, block, g2f, keep_raw, run):
    """convert.segy_block_task for a fully live block of a lossless format, with the amplitude
    chunks written as files at their Zarr keys (defined here, so Dask ships it by value)."""
    from seisbatch import convert, segy_reader, stats, store
    from seisbatch.segy_format import decode

    lay = segy_reader.SegyLayout(**layout)
    assert (g2f >= 0).all() and not keep_raw, "the benchmark file is fully live and lossless"
    records = segy_reader.read_selected(lay, g2f.ravel())
    values = decode(records["samples"], lay.format)
    amp = values.reshape(g2f.shape + (lay.n_samples,))
    codec = plain_amplitude_codec()
    chunks = store.default_chunks(("inline", "crossline"), lay.n_samples)
    first = tuple(s.start // c for s, c in zip(block, chunks))
    base = os.path.join(path, "amplitude", "c", *(str(i) for i in first))
    os.makedirs(base, exist_ok=True)
    for k, s in enumerate(range(0, lay.n_samples, chunks[-1])):
        chunk = np.ascontiguousarray(amp[..., s : s + chunks[-1]])
        if chunk.shape[-1] < chunks[-1] or chunk.shape[:-1] != tuple(chunks[:-1]):  # an edge chunk is stored whole
            full = np.zeros(chunks, np.float32)
            full[tuple(slice(0, n) for n in chunk.shape)] = chunk
            chunk = full
        with open(os.path.join(base, str(k)), "wb") as fh:
            fh.write(codec.encode(chunk) if codec else chunk.data)
    store.writable(path, "raw_headers", run)[block] = records["header"].reshape(g2f.shape + (store.HEADER_BYTES,))
    return convert._mask_and_log(path, index, block, g2f >= 0, dict(stats.block_stats(values), raw_traces=0), run)


def one_run(how: str, src: str, out: str, workers: int) -> None:
    import psutil

    from seisbatch import convert, engine

    if how == "plain":
        convert.segy_block_task = plain_block_task  # convert_segy looks the task up at call time
    me = psutil.Process()
    shutil.rmtree(out, ignore_errors=True)
    with engine.dask_client(workers=workers) as client:
        client.wait_for_workers(workers)
        c0, t = sum(me.cpu_times()[:2]), time.perf_counter()
        convert.convert_segy(src, out, client=client)
        print(time.perf_counter() - t, sum(me.cpu_times()[:2]) - c0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size-mb", type=float, default=500)
    p.add_argument("--workdir", default=os.path.join(os.path.dirname(__file__), "output"))
    p.add_argument("--one", nargs=4, help=argparse.SUPPRESS)  # internal: one timed run in this process
    args = p.parse_args()
    if args.one:
        one_run(args.one[0], args.one[1], args.one[2], int(args.one[3]))
        return
    os.makedirs(args.workdir, exist_ok=True)
    src = os.path.join(args.workdir, "bench_fmt5.sgy")
    make_file(src, 5, args.size_mb)
    read_file_once(src)
    times: dict[str, list[float]] = {"zarr": [], "plain": []}
    client_cpu: dict[str, list[float]] = {"zarr": [], "plain": []}
    for _ in range(args.runs):
        for how in times:
            res = subprocess.run([sys.executable, __file__, "--one", how, src, f"{src}.{how}.zarr", str(args.workers)],
                                 check=True, capture_output=True, text=True)
            wall, cpu = (float(v) for v in res.stdout.strip().splitlines()[-1].split())
            times[how].append(wall)
            client_cpu[how].append(cpu)
    import zarr

    a = zarr.open_group(f"{src}.zarr.zarr", mode="r")
    b = zarr.open_group(f"{src}.plain.zarr", mode="r")
    for name in ("amplitude", "raw_headers", "trace_mask"):
        assert np.array_equal(a[name][:], b[name][:]), f"{name} differs: the plain chunks are not what zarr writes"
    assert a.attrs["seisbatch"]["stats"] == b.attrs["seisbatch"]["stats"]
    for how in times:
        shutil.rmtree(f"{src}.{how}.zarr", ignore_errors=True)
    for how, ts in times.items():
        print(f"{how:5s} wall (s): " + " ".join(f"{t:.2f}" for t in ts) + "; client process CPU (s): "
              + " ".join(f"{t:.2f}" for t in client_cpu[how]))
    z, pl = times["zarr"], times["plain"]
    cpu = client_cpu["zarr"] + client_cpu["plain"]
    print(f"amplitude as plain files is {statistics.median(z) / statistics.median(pl):.2f} x faster (medians), "
          f"{min(z) / min(pl):.2f} x (best runs) than through zarr; the stores read back equal. The client process "
          f"(scheduler, nannies, client) used {statistics.median(cpu):.2f} s of CPU per conversion (median), "
          f"{statistics.median(c / w for c, w in zip(cpu, z + pl)):.0%} of one core over the run")


if __name__ == "__main__":
    main()
