"""Training and inference throughput of the paper's DnCNN under every Keras backend installed,
beside this machine's float32 matrix-multiply rate (the ceiling the convolutions can reach).

    python benchmarks/train.py [--backends tensorflow,jax,torch] [--steps 6] [--tile 256]

Each backend runs in its own process (Keras fixes its backend at import). Reported per backend:
training patches/s (RMSprop, MSE, batch 32 of 64x64, as the paper), inference output samples/s
with ``model.predict`` and with a compiled function, and the achieved GFLOP/s as a fraction of
the measured matmul rate. The ratio column is what to compare across machines.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

from seisbatch.model import flops_per_sample

WORKER = r"""
import json, os, sys, time
import numpy as np
import keras
from seisbatch import model as dncnn
from seisbatch.training import _jit_compile

steps, tile, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
keras.utils.set_random_seed(0)
m = dncnn.build_dncnn()
m.compile(optimizer=keras.optimizers.RMSprop(1e-3), loss="mse", jit_compile=_jit_compile())
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 64, 64, 1)).astype("float32")
y = (x * 0.5).astype("float32")
m.train_on_batch(x, y); m.train_on_batch(x, y)  # compile and warm up
t = time.perf_counter()
for _ in range(steps):
    m.train_on_batch(x, y)
train_s = (time.perf_counter() - t) / steps
tiles = rng.normal(size=(batch, tile, tile, 1)).astype("float32")
m.predict(tiles, batch_size=batch, verbose=0)
t = time.perf_counter()
for _ in range(3):
    m.predict(tiles, batch_size=batch, verbose=0)
predict_sps = 3 * tiles[..., 0].size / (time.perf_counter() - t)
compiled_sps = None
backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    f = tf.function(lambda v: m(v, training=False), jit_compile=False)
    f(tiles)
    t = time.perf_counter()
    for _ in range(3):
        f(tiles).numpy()
    compiled_sps = 3 * tiles[..., 0].size / (time.perf_counter() - t)
elif backend == "jax":
    import jax
    tv, ntv = [v.value for v in m.trainable_variables], [v.value for v in m.non_trainable_variables]
    f = jax.jit(lambda a, b, v: m.stateless_call(a, b, v, training=False)[0])
    f(tv, ntv, tiles).block_until_ready()
    t = time.perf_counter()
    for _ in range(3):
        f(tv, ntv, tiles).block_until_ready()
    compiled_sps = 3 * tiles[..., 0].size / (time.perf_counter() - t)
print(json.dumps({"backend": backend, "train_patches_s": 32 / train_s, "predict_sps": predict_sps,
                  "compiled_sps": compiled_sps}))
"""


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """Best float32 matmul rate of NumPy's BLAS on all cores: the CPU's practical ceiling."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backends", default="tensorflow,jax,torch", help="backends to try (those not installed are skipped)")
    p.add_argument("--steps", type=int, default=6, help="timed training steps per backend (default 6)")
    p.add_argument("--tile", type=int, default=256, help="inference tile side (default 256)")
    p.add_argument("--batch", type=int, default=8, help="inference tiles per batch (default 8)")
    a = p.parse_args()
    ceiling = matmul_gflops()
    fps = flops_per_sample()
    print(f"float32 matmul ceiling: {ceiling:.0f} GFLOP/s; DnCNN: {fps / 1e6:.3f} MFLOP per output sample")
    print(f"{'backend':<11} {'train patches/s':>15} {'predict samples/s':>18} {'compiled samples/s':>19} {'best GFLOP/s':>13} {'of ceiling':>10}")
    for backend in a.backends.split(","):
        module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
        if importlib.util.find_spec(module) is None:
            print(f"{backend:<11} not installed")
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        out = subprocess.run([sys.executable, "-c", WORKER, str(a.steps), str(a.tile), str(a.batch)], env=env,
                             capture_output=True, text=True)
        if out.returncode:
            print(f"{backend:<11} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        best = max(v for v in (r["predict_sps"], r["compiled_sps"]) if v)
        comp = f"{r['compiled_sps']:,.0f}" if r["compiled_sps"] else "-"
        print(f"{backend:<11} {r['train_patches_s']:>15.1f} {r['predict_sps']:>18,.0f} {comp:>19} "
              f"{best * fps / 1e9:>13.0f} {best * fps / 1e9 / ceiling:>10.2f}")


if __name__ == "__main__":
    main()
