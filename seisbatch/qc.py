"""Quality control of a denoised array: per-section metrics and a figure of one section.

With a clean reference (synthetic truth, converted to a store) the metric is SNR before and after.
Field data has no truth, so the metrics are the energy of the removed noise relative to the input
and the leakage: the correlation between the removed noise and the denoised signal (near zero when
the denoiser removed noise, not signal).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import plots, store
from .errors import SeisbatchError
from .metrics import SnrAccumulator


def _sections(shape: tuple[int, ...], direction: str) -> tuple[int, int | None]:
    """(number of sections, stacking axis) for a direction."""
    if len(shape) == 2:
        return 1, None
    axis = 0 if direction == "inline" else 1
    return shape[axis], axis


def _take(arr, axis: int | None, i: int) -> np.ndarray:
    if axis is None:
        return np.asarray(arr[:], dtype=np.float32)
    idx = [slice(None)] * arr.ndim
    idx[axis] = i
    return np.asarray(arr[tuple(idx)], dtype=np.float32)


def parse_section(text: str | None, shape: tuple[int, ...], labels: dict[str, np.ndarray]) -> tuple[str, int]:
    """'inline:120' (a line number) -> ("inline", index); default: the middle inline."""
    if len(shape) == 2:
        return "trace", 0
    if not text:
        return "inline", shape[0] // 2
    kind, _, number = text.partition(":")
    if kind not in ("inline", "crossline") or not number.lstrip("-").isdigit():
        raise ValueError(f"section {text!r}: expected inline:NUMBER or crossline:NUMBER")
    where = np.nonzero(labels[kind] == int(number))[0]
    if not len(where):
        raise ValueError(f"no {kind} {number} (range {labels[kind].min()}..{labels[kind].max()})")
    return kind, int(where[0])


def qc(path: str, output: str = "denoised", section: str | None = None, clean: str | None = None,
       png: str | None = None) -> dict[str, Any]:
    """Metrics for every section along the figure's direction, and the figure; returns them."""
    root = store.open_complete(path)
    if output not in root:
        raise SeisbatchError(path, f"no array {output!r} (run `seisbatch denoise` first)")
    if not dict(root[output].attrs.get("seisbatch", {})).get("complete", False):
        raise SeisbatchError(path, f"array {output!r} is incomplete: finish the denoising run first")
    amp, den = root["amplitude"], root[output]
    labels = {k: root[k][:] for k in ("inline", "crossline") if k in root}
    try:
        kind, index = parse_section(section, amp.shape, labels)
    except ValueError as exc:
        raise SeisbatchError(path, str(exc)) from None
    ref = None
    if clean:
        ref_root = store.open_complete(clean)
        ref = ref_root["amplitude"]
        if ref.shape != amp.shape:
            raise SeisbatchError(clean, f"clean reference shape {ref.shape} differs from the survey's {amp.shape}")
    n_sec, axis = _sections(amp.shape, kind if kind != "trace" else "inline")
    rows = []
    total_in, total_out = SnrAccumulator(), SnrAccumulator()
    for i in range(n_sec):
        x, y = _take(amp, axis, i), _take(den, axis, i)
        noise = x - y
        row: dict[str, Any] = {"section": i}
        e_in = float(np.vdot(x, x))
        row["removed_energy"] = float(np.vdot(noise, noise)) / e_in if e_in else 0.0
        ys, ns = y - y.mean(), noise - noise.mean()
        denom = float(np.sqrt(np.vdot(ys, ys) * np.vdot(ns, ns)))
        row["leakage"] = float(np.vdot(ys, ns)) / denom if denom else 0.0
        if ref is not None:
            c = _take(ref, axis, i)
            a, b = SnrAccumulator(), SnrAccumulator()
            a.add(c, x)
            b.add(c, y)
            total_in.add(c, x)
            total_out.add(c, y)
            row.update(snr_before_db=a.snr_db, snr_after_db=b.snr_db)
        rows.append(row)
    result: dict[str, Any] = {"output": output, "direction": kind, "sections": rows,
                              "removed_energy": float(np.mean([r["removed_energy"] for r in rows])),
                              "leakage": float(np.mean([r["leakage"] for r in rows]))}
    if ref is not None:
        result.update(snr_before_db=total_in.snr_db, snr_after_db=total_out.snr_db,
                      snr_gain_db=total_out.snr_db - total_in.snr_db)
    png = png or os.path.splitext(os.path.abspath(path.rstrip("/")))[0] + f".qc-{output}.png"
    x, y = _take(amp, axis, index), _take(den, axis, index)
    panels = [("input", x), (output, y), ("removed noise", x - y)]
    if ref is not None:
        panels.insert(0, ("clean reference", _take(ref, axis, index)))
    name = "line" if kind == "trace" else f"{kind} {labels[kind][index]}"
    plots.sections(png, panels, f"{os.path.basename(path.rstrip('/'))}: {name}", rows, axis_label=kind)
    result.update(png=png, figure_section=name)
    return result
