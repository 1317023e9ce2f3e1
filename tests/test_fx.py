"""f-x deconvolution, the classical baseline: what it removes, exact tiling on Dask, dead traces."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import zarr

from seisbatch import convert, denoise, fx, synthetic
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError


def _snr(clean: np.ndarray, x: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean.astype(float) ** 2) / np.sum((x - clean).astype(float) ** 2)))


def _linear_events(n_tr: int = 120, n_s: int = 300) -> np.ndarray:
    """Three linear events of different dips: each frequency slice is exactly predictable."""
    t = np.arange(n_s)
    out = np.zeros((n_tr, n_s))
    for t0, dip, amp in ((60, 0.0, 1.0), (120, 0.5, -0.8), (200, -0.3, 0.6)):
        for i in range(n_tr):
            tau = t - (t0 + dip * i)
            out[i] += amp * (1 - 2 * (np.pi * 0.08 * tau) ** 2) * np.exp(-((np.pi * 0.08 * tau) ** 2))
    return out.astype(np.float32)


def test_linear_events_in_noise_gain_at_least_6_db():
    clean = _linear_events()
    rng = np.random.default_rng(0)
    noisy = clean + 0.56 * clean.std() * rng.standard_normal(clean.shape).astype(np.float32)  # 5 dB
    out = fx.fx_decon(noisy)
    assert _snr(clean, noisy) == pytest.approx(5, abs=0.3)
    assert _snr(clean, out) - _snr(clean, noisy) > 6
    assert _snr(clean, fx.fx_decon(clean)) > 20  # noise-free linear events pass nearly unchanged


def test_a_part_read_with_one_window_of_halo_equals_the_whole_section():
    rng = np.random.default_rng(1)
    x = (_linear_events(150, 400) + 0.3 * rng.standard_normal((150, 400))).astype(np.float32)
    spec = fx.FxSpec(window_traces=24, window_samples=64)
    whole = fx.fx_decon(x, spec)
    core = (slice(50, 90), slice(150, 260))
    h = spec.halo  # one window each side, clipped at the section's edges
    read = (slice(max(0, 50 - h), min(150, 90 + h)), slice(150 - h, 260 + h))
    part = fx.fx_decon(x[read], spec, origin=(read[0].start, read[1].start), extent=x.shape)
    got = part[core[0].start - read[0].start : core[0].stop - read[0].start,
               core[1].start - read[1].start : core[1].stop - read[1].start]
    np.testing.assert_allclose(got, whole[core], atol=1e-5 * np.abs(whole).max())
    # without the halo the part differs: the test can tell
    alone = fx.fx_decon(x[core], spec, origin=(50, 150), extent=x.shape)  # no halo
    assert np.abs(alone - whole[core]).max() > 1e-3 * np.abs(whole).max()


@pytest.mark.parametrize("bad", [dict(filter_length=0), dict(window_traces=5), dict(window_samples=4),
                                 dict(damping=-1.0), dict(fmin=0.6, fmax=0.5)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        fx.FxSpec(**bad)


@pytest.fixture
def noisy_store(tmp_path, client):
    spec = synthetic.SurveySpec(n_inline=30, n_crossline=50, n_samples=140, seed=4)
    synthetic.write_segy(tmp_path / "s.sgy", spec, snr_db=5, missing=0.05)
    store = str(tmp_path / "s.zarr")
    convert.convert_segy(str(tmp_path / "s.sgy"), store, client=client, chunks=(8, 16, 64))
    return store


@pytest.mark.parametrize("direction", ["inline", "crossline"])
def test_tiled_on_dask_equals_whole_section_fx_and_dead_traces_stay_zero(noisy_store, client, direction):
    spec = denoise.DenoiseSpec(method="fx", direction=direction, fx_window=(12, 40), fx_filter=3)
    r = denoise.denoise(noisy_store, None, spec, client=client)
    assert r["output"] == "fxdecon" and r["method"] == "fx" and r["tasks"] > 1 and r["halo"] == 40
    root = zarr.open_group(noisy_store, mode="r")
    amp, mask, out = root["amplitude"][:], root["trace_mask"][:], root["fxdecon"][:]
    axes = (0, 1) if direction == "inline" else (1, 0)
    sections = np.moveaxis(amp, axes, (0, 1))
    ref = np.moveaxis(np.stack([fx.fx_decon(s, spec.fx_spec()) for s in sections]), (0, 1), axes)
    ref[~mask] = 0
    assert not mask.all() and not out[~mask].any()
    np.testing.assert_allclose(out, ref, atol=1e-5 * np.abs(ref).max())
    attrs = root["fxdecon"].attrs["seisbatch"]
    assert attrs["complete"] and attrs["method"] == "fx" and attrs["params"]["fx_window"] == [12, 40]
    assert "batch_size" not in attrs["params"]  # only what determines the output


def test_cli_fx_then_qc_compare(noisy_store, client, tmp_path, capsys):
    addr = ["--scheduler", client.scheduler.address, "--quiet"]
    assert main(["denoise", noisy_store, "--method", "fx", *addr]) == 0
    assert "f-x deconvolution" in capsys.readouterr().out
    # a rerun finds it complete; other f-x settings are refused without --overwrite
    assert main(["denoise", noisy_store, "--method", "fx", *addr]) == 0
    assert "already complete" in capsys.readouterr().out
    assert main(["denoise", noisy_store, "--method", "fx", "--fx-window", "20,64", *addr]) == 2
    assert "other parameters" in capsys.readouterr().err
    assert main(["denoise", noisy_store, "--method", "fx", "--fx-filter", "0", *addr]) == 2
    assert "filter length" in capsys.readouterr().err
    png = tmp_path / "cmp.png"
    assert main(["qc", noisy_store, "--array", "fxdecon", "--compare", "fxdecon", "--out", str(png)]) == 2
    assert main(["denoise", noisy_store, "--array", "den", "--method", "fx", "--fx-window", "20,64", *addr]) == 0
    capsys.readouterr()
    assert main(["qc", noisy_store, "--array", "fxdecon", "--compare", "den", "--out", str(png), "--json"]) == 0
    assert png.stat().st_size > 10_000


def test_fx_output_is_refused_where_denoise_did_not_write(noisy_store, client):
    with pytest.raises(SeisbatchError, match="reserved"):
        denoise.denoise(noisy_store, None, denoise.DenoiseSpec(method="fx", output="amplitude"), client=client)
    assert pathlib.Path(noisy_store, "amplitude").is_dir()
