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


def sections(path: str | os.PathLike, panels: list[tuple[str, np.ndarray]], title: str, rows: list[dict],
             axis_label: str = "inline") -> str:
    """QC figure: one (trace, sample) section per panel on a common grey scale (clipped at the
    input's 99th percentile), and below them the per-section metrics along the survey."""
    plt = _pyplot()
    clip = float(np.percentile(np.abs(panels[-2 if len(panels) > 1 else 0][1]), 99)) or 1.0
    clip = max(clip, float(np.percentile(np.abs(panels[0][1]), 99)) or 1.0)
    fig = plt.figure(figsize=(3.2 * len(panels), 7.2))
    grid = fig.add_gridspec(2, len(panels), height_ratios=[3, 1])
    for i, (label, sec) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(np.asarray(sec).T, cmap="gray", vmin=-clip, vmax=clip, aspect="auto", interpolation="nearest")
        ax.set_title(label)
        ax.set_xlabel("trace")
        if i == 0:
            ax.set_ylabel("sample")
    ax = fig.add_subplot(grid[1, :])
    idx = [r["section"] for r in rows]
    if "snr_after_db" in rows[0]:
        ax.plot(idx, [r["snr_before_db"] for r in rows], "o-", label="SNR before (dB)")
        ax.plot(idx, [r["snr_after_db"] for r in rows], "o-", label="SNR after (dB)")
    else:
        ax.plot(idx, [100 * r["removed_energy"] for r in rows], "o-", label="removed energy (% of input)")
        ax.plot(idx, [100 * r["leakage"] for r in rows], "o-", label="leakage: corr(removed, denoised) x 100")
    ax.set_xlabel(f"{axis_label} index")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return os.fspath(path)
