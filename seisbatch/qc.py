"""Quality control of a denoised array: per-section metrics and a figure of one section.

With a clean reference (synthetic truth, converted to a store) the metric is SNR before and after.
Field data has no truth, so the metrics are the energy of the removed noise relative to the input
and the leakage: the correlation between the removed noise and the denoised signal (near zero when
the denoiser removed noise, not signal). The sections are inline or crossline sections of a 3D
store, the whole of a 2D line, or each gather of a pre-stack store, whose figure also shows the
amplitude versus offset of its strongest event before and after.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import numpy as np

from . import orthogonalize, plots, store, tiling
from .errors import SeisbatchError
from .metrics import SnrAccumulator


Axes = tuple[int, ...]


def _sections(dims: tuple[str, ...], shape: tuple[int, ...], kind: str) -> tuple[Axes, list[tuple[int, ...]]]:
    """(stacking axes, the index of every section along them) for sections of ``kind``."""
    grid = dims[:-1]
    if len(grid) == 1:
        axes: Axes = ()
    elif tiling.is_gathers(dims):
        axes = tuple(range(len(grid) - 1))  # every key but the gather's own offset (channel) axis
    else:
        axes = (0,) if kind == "inline" else (1,)
    return axes, list(itertools.product(*[range(shape[a]) for a in axes]))


def _take(arr, axes: Axes, index: tuple[int, ...]) -> np.ndarray:
    idx: list[Any] = [slice(None)] * arr.ndim
    for a, i in zip(axes, index):
        idx[a] = i
    return np.asarray(arr[tuple(idx)], dtype=np.float32)


def parse_section(text: str | None, dims: tuple[str, ...], shape: tuple[int, ...],
                  labels: dict[str, np.ndarray]) -> tuple[str, tuple[int, ...]]:
    """The figure's section: 'inline:120' or 'crossline:300' (line numbers) in a 3D store, the
    gather 'cdp:1010', 'shot_point:101' or 'inline:1000,crossline:2003' in a pre-stack one ->
    (kind, index along the stacking axes). Default: the middle inline, or the middle gather."""
    grid = dims[:-1]
    if len(grid) == 1:
        return "trace", ()
    if tiling.is_gathers(dims):
        keys = grid[:-1]
        given = dict(part.partition(":")[::2] for part in text.split(",")) if text else {}
        if set(given) - set(keys) or any(not v.lstrip("-").isdigit() for v in given.values()):
            raise ValueError(f"section {text!r}: expected {','.join(k + ':NUMBER' for k in keys)}")
        index = tuple(_find(labels, k, given[k]) if k in given else shape[a] // 2 for a, k in enumerate(keys))
        return "gather", index
    if not text:
        return "inline", (shape[0] // 2,)
    kind, _, number = text.partition(":")
    if kind not in ("inline", "crossline") or not number.lstrip("-").isdigit():
        raise ValueError(f"section {text!r}: expected inline:NUMBER or crossline:NUMBER")
    return kind, (_find(labels, kind, number),)


def _find(labels: dict[str, np.ndarray], key: str, number: str) -> int:
    where = np.nonzero(labels[key] == int(number))[0]
    if not len(where):
        raise ValueError(f"no {key} {number} (range {labels[key].min()}..{labels[key].max()})")
    return int(where[0])


def precision_check(root, output: str, axis: Axes, index: tuple[int, ...]) -> dict[str, Any]:
    """The error of a stored output against float32 inference with the same model, on one window.

    The window is one tile core (the run's tile size) at the middle of the section, read with the
    model's receptive radius around it, so that float32 inference there equals whole-section
    inference; with crop blending the difference is then the precision's error alone.
    """
    from . import devices
    from . import model as dncnn

    devices.start_backend()
    attrs = dict(root[output].attrs.get("seisbatch", {}))
    params, model_path = attrs.get("params", {}), attrs.get("model_path", "")
    m = dncnn.load(model_path)
    if dncnn.digest(m) != attrs.get("model_digest"):
        raise SeisbatchError(model_path, f"not the model that made {output!r} (digest differs): cannot measure its error")
    scale = np.float32(params.get("scale", 1.0))
    x, y = _take(root["amplitude"], axis, index), _take(root[output], axis, index)
    live = np.asarray(_take(root["trace_mask"], axis, index), bool)
    r = dncnn.receptive_radius(m)
    core, read = [], []
    for n, t in zip(x.shape, params.get("tile", x.shape)):
        t = min(int(t), n)
        a = (n - t) // 2
        core.append(slice(a, a + t))
        read.append(slice(max(0, a - r), min(n, a + t + r)))
    net = dncnn.for_inference(m)
    ref, bad = tiling.infer(x[tuple(read)], scale, lambda b: dncnn.predict(net, b[None], 1)[0])  # as workers run it
    inner = tiling.within(tuple(core), tuple(read), x.shape)
    ref = ref[inner]
    ref[bad[inner]] = 0.0
    ref[~live[core[0]]] = 0.0
    err = y[tuple(core)] - ref
    e2, r2 = float(np.vdot(err, err)), float(np.vdot(ref, ref))
    return {"precision": params.get("precision", "float32"), "blend": params.get("blend"),
            "window": [[c.start, c.stop] for c in core],
            "rel_rms_error": float(np.sqrt(e2 / r2)) if r2 else 0.0, "max_abs_error": float(np.abs(err).max()),
            "snr_vs_float32_db": float(10 * np.log10(r2 / e2)) if e2 else float("inf")}


def _complete(arr) -> bool:
    return bool(dict(arr.attrs.get("seisbatch", {})).get("complete", False))


def _check_output(root, path: str, output: str) -> None:
    if output not in root:
        raise SeisbatchError(path, f"no array {output!r} (run `seisbatch denoise` first)")
    own = dict(root[output].attrs.get("seisbatch", {}))
    if not own.get("complete", False) and not own.get("trial"):
        raise SeisbatchError(path, f"array {output!r} is incomplete: finish the denoising run first")


def _metrics(amp, den, ref, axis: Axes, indices: list[tuple[int, ...]]) -> dict[str, Any]:
    """Per-section removed energy and leakage (and SNR before/after with a clean reference), and
    their survey-wide values."""
    rows = []
    total_in, total_out = SnrAccumulator(), SnrAccumulator()
    for i in indices:
        x, y = _take(amp, axis, i), _take(den, axis, i)
        noise = x - y
        row: dict[str, Any] = {"section": i[0] if len(i) == 1 else list(i)}
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
    result: dict[str, Any] = {"sections": rows, "removed_energy": float(np.mean([r["removed_energy"] for r in rows])),
                              "leakage": float(np.mean([r["leakage"] for r in rows]))}
    if ref is not None:
        result.update(snr_before_db=total_in.snr_db, snr_after_db=total_out.snr_db,
                      snr_gain_db=total_out.snr_db - total_in.snr_db)
    return result


def qc(path: str, output: str = "denoised", section: str | None = None, clean: str | None = None,
       png: str | None = None, check_precision: bool | None = None, compare: str | None = None) -> dict[str, Any]:
    """Metrics for every section along the figure's direction, and the figure; returns them.

    ``check_precision``: measure the output's error against float32 inference on the figure's
    section (default: only for outputs computed in half precision). ``compare``: a second output
    of the store (another method or model, e.g. ``fxdecon``) measured the same way and shown
    beside the first."""
    root = store.open_complete(path)
    _check_output(root, path, output)
    if compare is not None:
        _check_output(root, path, compare)
        if compare == output:
            raise SeisbatchError(path, f"--compare {compare!r} is the output itself: name another array")
    amp, den = root["amplitude"], root[output]
    other_arr = root[compare] if compare is not None else None
    dims = tuple(amp.metadata.dimension_names)
    labels = {k: root[k][:] for k in dims[:-1] if k in root}
    sample_values = root["sample"][:]
    trial = dict(den.attrs.get("seisbatch", {})).get("trial") if not _complete(den) else None
    if trial:  # a trial run: its region only, small enough to hold (the rest of the output is not written)
        region = tuple(slice(a, b) for a, b in trial["region"])
        amp, den = np.asarray(amp[region]), np.asarray(den[region])
        other_arr = np.asarray(other_arr[region]) if other_arr is not None else None
        labels = {k: v[region[dims.index(k)]] for k, v in labels.items()}
        sample_values = sample_values[region[-1]]
    try:
        kind, index = parse_section(section, dims, amp.shape, labels)
    except ValueError as exc:
        raise SeisbatchError(path, str(exc)) from None
    ref = None
    if clean:
        ref_root = store.open_complete(clean)
        ref = ref_root["amplitude"]
        if trial and ref.shape == root["amplitude"].shape:
            ref = np.asarray(ref[region])
        if ref.shape != amp.shape:
            raise SeisbatchError(clean, f"clean reference shape {ref.shape} differs from the survey's {amp.shape}")
    axis, indices = _sections(dims, amp.shape, kind)
    result: dict[str, Any] = {"output": output, "direction": kind, **_metrics(amp, den, ref, axis, indices)}
    if trial:
        result["trial"] = trial["subset"]
    rows = result["sections"]
    if compare is not None:
        other = _metrics(amp, other_arr, ref, axis, indices)
        compare_rows = other.pop("sections")
        result["compare"] = {"output": compare, **other}
    precision = dict(root[output].attrs.get("seisbatch", {})).get("params", {}).get("precision", "float32")
    if not trial and (check_precision or (check_precision is None and precision != "float32")):
        result["precision_check"] = precision_check(root, output, axis, index)
    # default: beside a local store; for a store at a URL, in the working directory
    stem = os.path.abspath(os.path.basename(path.rstrip("/")) if store.is_url(path) else path.rstrip("/"))
    default = os.path.splitext(stem)[0] + f".qc-{output}.png"
    if png and os.path.isdir(png):  # a folder: the default file name inside it
        png = os.path.join(png, os.path.basename(default))
    elif png and not os.path.splitext(png)[1]:
        png += ".png"  # what matplotlib writes for a name without a suffix; said as it is written
    png = png or default
    x, y = _take(amp, axis, index), _take(den, axis, index)
    c = _take(ref, axis, index) if ref is not None else None
    panels = [("input", x), (output, y), ("removed noise", x - y)]
    z = _take(other_arr, axis, index) if compare is not None else None
    if z is not None:
        panels[2:] = [(compare, z), (f"removed by {output}", x - y), (f"removed by {compare}", x - z)]
    if c is not None:
        panels.insert(0, ("clean reference", c))
    if kind == "gather":
        name = ", ".join(f"{k} {labels[k][i]}" for k, i in zip(dims[:-2], index))
    else:
        name = "line" if kind == "trace" else f"{kind} {labels[kind][index[0]]}"
    units = root["sample"].attrs.get("units", "")
    samples = ({"ms": "time (ms)", "m": "depth (m)"}.get(units, f"sample ({units})" if units else "sample"),
               sample_values)
    if kind == "trace":  # one section, the whole line: its metrics trace by trace
        traces = ("trace", labels["trace"] if "trace" in labels else np.arange(x.shape[0]))
        window = max(1, len(traces[1]) // 64)
        curves = [(f"{k} (over {window} traces)" if window > 1 else k, v)
                  for k, v in along_line(x, y, c, window).items()]
        if z is not None:  # the compared output's curve (not the input's again)
            curves += [(f"{k}, {compare}", v) for k, v in list(along_line(x, z, c, window).items())[-1:]]
        along = (traces[0], traces[1], curves, None)
    elif kind == "gather":  # the amplitude versus offset of the gather's strongest event
        traces = (dims[-2], labels[dims[-2]])
        t = int(np.argmax(np.einsum("ij,ij->j", y, y)))
        at = f"at {samples[1][t]:g} {units}" if units else f"at sample {t}"
        curves = [(f"{k} {at}", v[:, t]) for k, v in (("clean", c), ("input", x), (output, y), (compare, z))
                  if v is not None]
        along = (f"{dims[-2]} (amplitude of the strongest event)", labels[dims[-2]], curves, None)
        result["avo"] = {"sample": float(samples[1][t]), **{k: v.tolist() for k, v in curves}}
    else:
        other = "crossline" if kind == "inline" else "inline"
        traces = (other, labels[other])
        keys = (("SNR before (dB)", "snr_before_db"), ("SNR after (dB)", "snr_after_db")) if c is not None else \
            (("removed energy (% of input)", "removed_energy"), ("leakage: corr(removed, denoised) x 100", "leakage"))
        scale = 1 if c is not None else 100
        curves = [(label, np.array([scale * r[k] for r in rows])) for label, k in keys]
        if compare is not None:
            label, k = keys[-1] if c is not None else keys[0]
            curves.append((f"{label}, {compare}", np.array([scale * r[k] for r in compare_rows])))
        along = (kind, labels[kind], curves, float(labels[kind][index[0]]))
    similarity = orthogonalize.local_similarity(y, x - y)
    interval = float(samples[1][1] - samples[1][0]) if len(samples[1]) > 1 else 1.0
    each = [(k, plots.spectrum(v, interval, units)) for k, v in
            (("input", x), (output, y), ("removed", x - y), (compare, z)) if v is not None]
    spectra = (each[0][1][0], each[0][1][1], [(k, amp) for k, (_, _, amp) in each])
    fig = plots.sections(png, panels, f"{os.path.basename(path.rstrip('/'))}: {name}", traces=traces, samples=samples,
                         along=along, removed=1 if compare is None else 2, similarity=similarity, spectra=spectra,
                         along_title="amplitude versus offset of the strongest event" if kind == "gather"
                         else "metrics along the survey")
    result.update(png=png, figure_section=name, figure_noise_gain=fig["noise_gain"], figure_clip=fig["clip"],
                  local_similarity={"mean_abs": float(np.abs(similarity).mean()),
                                    "p99_abs": float(np.percentile(np.abs(similarity), 99))})
    return result


def along_line(x: np.ndarray, y: np.ndarray, clean: np.ndarray | None = None, window: int = 1) -> dict[str, np.ndarray]:
    """Metrics of one (trace, sample) section trace by trace, each a ratio of energies summed over
    ``window`` neighbouring traces (one trace alone is too noisy to read): the removed energy in %
    of the input and, with a clean reference, the SNR before and after (dB). NaN where the input
    (or the reference) has no energy, as over dead traces."""
    k = np.ones(window)

    def run(e: np.ndarray) -> np.ndarray:
        return np.convolve(e.astype(np.float64), k, mode="same")

    def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)

    def energy(a: np.ndarray) -> np.ndarray:
        return run(np.einsum("ij,ij->i", a, a, dtype=np.float64))

    if clean is None:
        return {"removed energy (% of input)": 100 * ratio(energy(x - y), energy(x))}
    ec = energy(clean)

    def snr(error: np.ndarray) -> np.ndarray:
        r = ratio(ec, energy(error))
        return 10 * np.log10(np.where(r > 0, r, np.nan))

    return {"SNR before (dB)": snr(x - clean), "SNR after (dB)": snr(y - clean)}
