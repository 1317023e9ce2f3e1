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


def noise_gain(removed: np.ndarray, clip: float) -> float:
    """Display gain for the removed-noise panel: 1 when it is visible on the input's grey scale,
    else the largest of 2, 5, 10, 20, 50, ... that brings its 99th percentile to at most half the
    clip, so a denoiser that removed little still shows what it removed (the panel says by how much)."""
    p = float(np.percentile(np.abs(removed), 99)) if removed.size else 0.0
    if p <= 0 or p >= clip / 4:
        return 1.0
    target = clip / 2 / p  # above 2 here
    decade = 10.0 ** np.floor(np.log10(target))
    return float(max(m * decade for m in (1, 2, 5) if m * decade <= target))


def _edges(values: np.ndarray) -> tuple[float, float] | None:
    """Image edges (first, last) for evenly spaced coordinate values, else None."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return None
    step = np.diff(v)
    if not np.allclose(step, step[0]) or step[0] == 0:
        return None
    return float(v[0] - step[0] / 2), float(v[-1] + step[0] / 2)


def spectrum(sections: np.ndarray, interval: float, units: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(frequency label, frequencies, mean amplitude spectrum over the traces) of a (trace, sample)
    section sampled every ``interval`` ``units`` (Hz for ms; cycles per km for m or ft)."""
    x = np.asarray(sections, dtype=np.float64)
    amp = np.abs(np.fft.rfft(x, axis=-1)).mean(axis=0) if x.size else np.zeros(1)
    if units == "ms":
        return "frequency (Hz)", np.fft.rfftfreq(x.shape[-1], interval / 1000.0), amp
    scale = 1000.0 if units == "m" else 1000.0 / 0.3048
    return f"wavenumber (cycles/k{units})", np.fft.rfftfreq(x.shape[-1], interval / scale), amp


def sections(path: str | os.PathLike, panels: list[tuple[str, np.ndarray]], title: str, *,
             traces: tuple[str, np.ndarray], samples: tuple[str, np.ndarray],
             along: tuple[str, np.ndarray, list[tuple[str, np.ndarray]], float | None], removed: int = 1,
             similarity: np.ndarray | None = None,
             spectra: tuple[str, np.ndarray, list[tuple[str, np.ndarray]]] | None = None,
             along_title: str = "metrics along the survey") -> dict:
    """QC figure: one (trace, sample) section per panel on a common grey scale (clipped at the 99th
    percentile of the input and the output; a colour bar gives the clip), the last panel (the
    removed noise) with a gain when it would be invisible at that scale; axes in the survey's
    numbers and units (``traces`` and ``samples``: (label, coordinate values)). Then, when given,
    the local ``similarity`` of the denoised data and the removed noise (Chen & Fomel 2015: near 0
    where only noise was removed, high where signal leaked into it). Below, the metrics ``along``
    the survey: (x label, x values, [(curve label, values)], x of the section shown or None), and
    the amplitude ``spectra`` (x label, x values, [(label, amplitude)]) of the section. The last
    ``removed`` panels are removed noise, all shown with the same gain (two outputs side by side).
    Returns the path, the gain and the clip."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    clip = float(np.percentile(np.abs(panels[-1 - removed if len(panels) > removed else 0][1]), 99)) or 1.0
    clip = max(clip, float(np.percentile(np.abs(panels[0][1]), 99)) or 1.0)
    gain = noise_gain(np.asarray(panels[-removed][1]), clip) if len(panels) > 2 else 1.0
    n_cols = len(panels) + (similarity is not None)
    fig = plt.figure(figsize=(3.2 * n_cols + 0.8, 8.0))
    grid = fig.add_gridspec(2, n_cols, height_ratios=[3, 1.15])
    tx, sx = _edges(traces[1]), _edges(samples[1])
    n_tr, n_s = np.asarray(panels[0][1]).shape
    extent = [*(tx or (-0.5, n_tr - 0.5)), *((sx[1], sx[0]) if sx else (n_s - 0.5, -0.5))]
    shown = [(label, np.asarray(sec), "gray", clip) for label, sec in panels]
    if similarity is not None:
        shown.append(("local similarity\n(denoised, removed)", np.asarray(similarity), "RdBu_r", 1.0))
    for i, (label, sec, cmap, lim) in enumerate(shown):
        ax = fig.add_subplot(grid[0, i])
        last = len(panels) - removed <= i < len(panels) and gain != 1.0
        image = ax.imshow(sec.T * (gain if last else 1), cmap=cmap, vmin=-lim, vmax=lim, aspect="auto",
                          interpolation="nearest", extent=extent)
        ax.set_title(f"{label} ×{gain:g}" if last else label)
        ax.set_xlabel(traces[0] if tx else f"{traces[0]} (index)")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))  # line and trace numbers
        if i == 0:
            ax.set_ylabel(samples[0] if sx else f"{samples[0]} (index)")
        if i == len(panels) - 1:
            fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03).set_label(f"amplitude, clipped at ±{clip:.3g}")
        elif i == len(panels):
            fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03).set_label("similarity")
    split = max(1, n_cols - 1) if spectra is not None and n_cols > 1 else n_cols
    ax = fig.add_subplot(grid[1, :split])
    x_label, x, curves, mark = along
    style = "o-" if len(x) <= 60 else "-"
    for label, values in curves:
        ax.plot(x, values, style, ms=3, label=label)
    if mark is not None:
        ax.axvline(mark, color="0.4", ls="--", lw=1, label="section shown")
    ax.set_xlabel(x_label)
    ax.set_title(along_title, fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    if spectra is not None and split < n_cols:
        ax = fig.add_subplot(grid[1, split:])
        f_label, f, amps = spectra
        for label, a in amps:
            ax.semilogy(f, np.maximum(a, 1e-12), label=label)
        ax.set_xlabel(f_label)
        ax.set_title("amplitude spectra of the section", fontsize=9)
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return {"png": os.fspath(path), "noise_gain": gain, "clip": clip}


def loss_curve(path: str | os.PathLike, epochs: np.ndarray, curves: list[tuple[str, np.ndarray]], title: str) -> str:
    """Loss per epoch on a log scale: whether training converged, and where it stalled or jumped
    (a resumed run's epochs follow on from the stopped one's)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, values in curves:
        ax.plot(epochs, values, "o-" if len(epochs) <= 60 else "-", ms=3, label=label)
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)
    plt.close(fig)
    return os.fspath(path)
