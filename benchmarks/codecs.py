"""Size and speed of amplitude codecs on real surveys (../shared/data/segy) and the benchmark file.

    python benchmarks/codecs.py [FILE.sgy ...]

Each file's samples as float32, in pieces of up to 1024 traces (a whole number of 32 traces, so
that every piece holds a multiple of 8 samples, as the store's chunks do: Blosc's bit shuffle
leaves a piece that is not alone), compressed by each candidate: seisbatch's codecs (`lz4`,
`zstd`, both with Blosc's bit shuffle) beside the byte-shuffle settings they replaced. One thread.
Prints the compressed size as a share of the raw size and the compress and decompress speeds
(best of 3).
"""

from __future__ import annotations

import glob
import os
import sys
import time

import numcodecs
import numpy as np
import segyio

HERE = os.path.dirname(os.path.abspath(__file__))
CANDIDATES = {  # name: (cname, clevel, shuffle)
    "lz4 (seisbatch)": ("lz4", 5, numcodecs.Blosc.BITSHUFFLE),
    "lz4 byte shuffle": ("lz4", 5, numcodecs.Blosc.SHUFFLE),
    "zstd (seisbatch)": ("zstd", 3, numcodecs.Blosc.BITSHUFFLE),
    "zstd byte shuffle": ("zstd", 3, numcodecs.Blosc.SHUFFLE),
}


def pieces(path: str, max_traces: int = 8192) -> list[np.ndarray]:
    try:
        f = segyio.open(path, ignore_geometry=True)
    except RuntimeError:  # a little-endian file: segyio reads it only when told
        f = segyio.open(path, ignore_geometry=True, endian="little")
    with f:
        n = min(f.tracecount, max_traces) // 32 * 32
        data = f.trace.raw[:n].astype(np.float32)
    return [np.ascontiguousarray(data[i : i + 1024]) for i in range(0, n, 1024)]


def best(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    numcodecs.blosc.use_threads = False
    files = sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, "..", "..", "shared", "data", "segy", "*.s*gy")))
    bench = os.path.join(HERE, "output", "bench_fmt5.sgy")
    if not sys.argv[1:] and os.path.exists(bench):
        files.append(bench)
    print(f"{'file':<34} {'codec':<18} {'size':>6} {'compress MB/s':>14} {'decompress MB/s':>16}")
    for path in files:
        parts = pieces(path)
        raw = sum(p.nbytes for p in parts)
        for name, (cname, level, shuffle) in CANDIDATES.items():
            codec = numcodecs.Blosc(cname, level, shuffle)
            enc = [codec.encode(p) for p in parts]
            size = sum(len(e) for e in enc) / raw
            t_enc = best(lambda: [codec.encode(p) for p in parts])
            t_dec = best(lambda: [codec.decode(e) for e in enc])
            print(f"{os.path.basename(path):<34} {name:<18} {size:>6.1%} {raw / t_enc / 1e6:>14.0f} {raw / t_dec / 1e6:>16.0f}")


if __name__ == "__main__":
    main()
