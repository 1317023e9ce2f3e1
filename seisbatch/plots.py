"""Figures people look at instead of reading numbers: patch grids for training, sections for QC.

Seismic convention: time down, traces across, a symmetric grey scale. Matplotlib's Agg backend,
so figures are written on machines without a screen.
"""

from __future__ import annotations

import os

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def patch_grid(path: str | os.PathLike, rows: list[tuple[str, np.ndarray]], title: str, clip: float = 2.0) -> str:
    """One row of (trace, sample) patches per (label, patches) pair, drawn time-down; the paper's
    figures show 4 training pairs and 4 held-out noisy/denoised pairs this way."""
    plt = _pyplot()
    ncol = max(len(p) for _, p in rows)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(2.2 * ncol, 2.4 * len(rows)), squeeze=False)
    for r, (label, patches) in enumerate(rows):
        for c in range(ncol):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(patches):
                p = np.asarray(patches[c]).reshape(patches[c].shape[0], -1)
                ax.imshow(p.T, cmap="gray", vmin=-clip, vmax=clip, aspect="auto", interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
    plt.close(fig)
    return os.fspath(path)
