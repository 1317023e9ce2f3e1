"""Reproduce the example of Yu & Ma (2021) end to end with seisbatch's own commands:

    make-dataset (12800 noisy/clean 64x64 patches, the paper's layout)
    -> train (RMSprop, MSE, batch 32, 50 epochs, last 1000 held out)
    -> evaluate (held-out MSE and SNR before/after)
    -> the paper's two figures (training pairs; held-out noisy/denoised).

    python workflows/paper_example.py                 # the full recipe (hours on a CPU, minutes on a GPU)
    python workflows/paper_example.py --small         # a few hundred patches, a smaller net: under 2 minutes
    KERAS_BACKEND=jax python workflows/paper_example.py --dir run-jax

Everything lands in --dir (default paper-example/): the dataset, the model, its checkpoint, the
history CSV and its loss curve, metrics JSON and the two PNG figures.
"""

from __future__ import annotations

import argparse
import os
import sys

from seisbatch.cli import main as seisbatch


def run(workdir: str, small: bool = False, epochs: int | None = None, snr: str = "5") -> int:
    os.makedirs(workdir, exist_ok=True)
    data = os.path.join(workdir, "noise_dataset.h5")
    model = os.path.join(workdir, "dncnn.keras")
    count = ["--count", "480"] if small else []
    net = ["--depth", "8", "--filters", "32", "--epochs", str(epochs or 3)] if small else ["--epochs", str(epochs or 50)]
    steps = [
        ["make-dataset", data, "--snr", snr, "--seed", "0", "--overwrite", "--quiet", *count],
        ["train", data, "--out", model, "--overwrite", *net] + (["--quiet"] if small else []),
        ["evaluate", model, data],
    ]
    for argv in steps:
        print("$ seisbatch " + " ".join(argv), flush=True)
        code = seisbatch(argv)
        if code:
            return code
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default="paper-example", help="working directory (default paper-example)")
    p.add_argument("--small", action="store_true", help="480 patches, an 8-layer 32-filter net, 3 epochs (CI size)")
    p.add_argument("--epochs", type=int, default=None, help="override the number of epochs")
    p.add_argument("--snr", default="5", help="noise level of the dataset in dB, or LOW:HIGH (default 5)")
    a = p.parse_args()
    sys.exit(run(a.dir, a.small, a.epochs, a.snr))
