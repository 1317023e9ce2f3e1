"""qc: SNR against a clean reference, removed energy and leakage without one, the figure (its gain on
the removed noise, a 2D line's metrics trace by trace), refusals; info reports a denoised array's completeness block by block."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from conftest import DATA, small_model
from seisbatch import convert, denoise, plots, qc, synthetic
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError


@pytest.fixture
def stores(tmp_path, client):
    spec = synthetic.SurveySpec(n_inline=6, n_crossline=30, n_samples=60, seed=4)
    synthetic.write_segy(tmp_path / "n.sgy", spec, snr_db=5)
    synthetic.write_segy(tmp_path / "c.sgy", spec)
    noisy, clean = str(tmp_path / "n.zarr"), str(tmp_path / "c.zarr")
    convert.convert_segy(str(tmp_path / "n.sgy"), noisy, client=client, chunks=(2, 30, 60))
    convert.convert_segy(str(tmp_path / "c.sgy"), clean, client=client)
    small_model(tmp_path / "m.keras", seed=0, depth=4, filters=8)
    return noisy, clean, str(tmp_path / "m.keras")


def test_snr_against_clean_reference_and_figure(stores, client, tmp_path):
    noisy, clean, model = stores
    denoise.denoise(noisy, model, client=client)
    r = qc.qc(noisy, clean=clean, png=str(tmp_path / "q.png"))
    x = zarr.open_group(noisy)["amplitude"][:].astype(float)
    y = zarr.open_group(noisy)["denoised"][:].astype(float)
    c = zarr.open_group(clean)["amplitude"][:].astype(float)
    assert r["snr_before_db"] == pytest.approx(10 * np.log10((c**2).sum() / ((x - c) ** 2).sum()), abs=1e-6)
    assert r["snr_after_db"] == pytest.approx(10 * np.log10((c**2).sum() / ((y - c) ** 2).sum()), abs=1e-6)
    assert 4.5 < r["snr_before_db"] < 5.5
    assert len(r["sections"]) == 6 and all("snr_after_db" in s for s in r["sections"])
    assert open(tmp_path / "q.png", "rb").read(4) == b"\x89PNG"
    # the figure's clip is the 99th percentile of |input| (the colour bar says it), and the local
    # similarity of what the model kept and removed is small where it removed noise only
    section = x[int(r["figure_section"].split()[-1]) - zarr.open_group(noisy)["inline"][0]]
    assert r["figure_clip"] >= np.percentile(np.abs(section), 99) * 0.999
    assert 0 <= r["local_similarity"]["mean_abs"] < 0.5 and r["local_similarity"]["p99_abs"] <= 1
    folder = tmp_path / "figures"
    folder.mkdir()
    for given, written in ((folder, folder / "n.qc-denoised.png"), (tmp_path / "nosuffix", tmp_path / "nosuffix.png")):
        r = qc.qc(noisy, png=str(given))  # a folder gets the default name; a bare name gets .png, as written
        assert r["png"] == str(written) and open(written, "rb").read(4) == b"\x89PNG"


def test_removed_energy_and_leakage_without_reference(stores, client, capsys):
    noisy, _, model = stores
    denoise.denoise(noisy, model, client=client)
    assert main(["qc", noisy, "--section", "crossline:305", "--json"]) == 0
    import json

    r = json.loads(capsys.readouterr().out)
    x = zarr.open_group(noisy)["amplitude"][:, 5].astype(float)
    y = zarr.open_group(noisy)["denoised"][:, 5].astype(float)
    assert r["direction"] == "crossline" and r["figure_section"] == "crossline 305"
    s5 = r["sections"][5]
    assert s5["removed_energy"] == pytest.approx(((x - y) ** 2).sum() / (x**2).sum(), rel=1e-6)
    assert s5["leakage"] == pytest.approx(np.corrcoef(y.ravel(), (x - y).ravel())[0, 1], abs=1e-6)


def test_qc_refuses_missing_or_incomplete_output_and_bad_sections(stores, client, capsys):
    noisy, _, model = stores
    with pytest.raises(SeisbatchError, match="run `seisbatch denoise` first"):
        qc.qc(noisy)

    def stop(done, total):
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        denoise.denoise(noisy, model, client=client, progress=stop)
    with pytest.raises(SeisbatchError, match="incomplete"):
        qc.qc(noisy)
    assert main(["info", noisy]) == 0
    assert "denoised         float32  (6, 30, 60)  INCOMPLETE (" in capsys.readouterr().out
    denoise.denoise(noisy, model, client=client)
    assert main(["qc", noisy, "--section", "inline:999"]) == 2
    assert "no inline 999" in capsys.readouterr().err


def test_removed_noise_gain_shows_what_little_was_removed():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((50, 80))
    p99 = np.percentile(np.abs(noise), 99)
    assert plots.noise_gain(noise, clip=2 * p99) == 1.0  # visible on the input's scale: no gain
    assert plots.noise_gain(noise, clip=100 * p99) == 50.0  # the largest 1-2-5 step up to half the clip
    assert plots.noise_gain(noise, clip=30 * p99) == 10.0
    assert plots.noise_gain(np.zeros((4, 4)), clip=1.0) == 1.0


def test_along_line_metrics_are_energy_ratios_over_neighbouring_traces():
    rng = np.random.default_rng(1)
    c = rng.standard_normal((12, 40))
    x = c + 0.5 * rng.standard_normal(c.shape)
    y = c + 0.1 * rng.standard_normal(c.shape)
    x[4] = y[4] = c[4] = 0  # a dead trace
    e = lambda a: (a**2).sum(axis=1)  # noqa: E731
    one = qc.along_line(x, y)["removed energy (% of input)"]
    live = np.arange(12) != 4
    np.testing.assert_allclose(one[live], 100 * e(x - y)[live] / e(x)[live], rtol=1e-12)
    assert np.isnan(one[4])
    three = qc.along_line(x, y, c, window=3)
    np.testing.assert_allclose(three["SNR before (dB)"][6], 10 * np.log10(e(c)[5:8].sum() / e(x - c)[5:8].sum()))
    np.testing.assert_allclose(three["SNR after (dB)"][0], 10 * np.log10(e(c)[:2].sum() / e(y - c)[:2].sum()))
    np.testing.assert_allclose(three["SNR after (dB)"][4], 10 * np.log10(e(c)[3:6].sum() / e(y - c)[3:6].sum()))
    assert np.isnan(qc.along_line(x, y, c)["SNR before (dB)"][4])  # no reference energy, no SNR


def test_2d_line_figure_in_the_files_units_with_the_removed_noise_amplified(tmp_path, client, capsys):
    store = str(tmp_path / "line.zarr")
    convert.convert_segy(str(DATA / "gundih_2D_Xline_12680.sgy"), store, client=client)
    small_model(tmp_path / "m.keras", seed=0, depth=4, filters=8)
    denoise.denoise(store, str(tmp_path / "m.keras"), client=client)
    root = zarr.open_group(store, mode="r+")
    root["denoised"][:] = root["amplitude"][:] * np.float32(0.998)  # a denoiser that removed 0.2% of the amplitude
    png = tmp_path / "line.png"
    assert main(["qc", store, "--out", str(png), "--json"]) == 0
    import json

    r = json.loads(capsys.readouterr().out)
    assert r["figure_section"] == "line" and len(r["sections"]) == 1
    assert r["sections"][0]["removed_energy"] == pytest.approx(4e-6, rel=1e-3)
    assert r["figure_noise_gain"] == 200.0  # 0.2% of the amplitude brought to at most half the grey scale (x250)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_the_spectrum_panel_is_in_hz_for_time_and_cycles_per_km_for_depth():
    from seisbatch import plots

    t = np.arange(250) * 0.004
    section = np.tile(np.sin(2 * np.pi * 25 * t), (7, 1))  # 25 Hz, 4 ms sampling
    label, f, amp = plots.spectrum(section, 4.0, "ms")
    assert label == "frequency (Hz)" and f[np.argmax(amp)] == pytest.approx(25, abs=0.5) and f[-1] == 125
    label, f, amp = plots.spectrum(section, 4.0, "m")  # 4 m sampling: Nyquist at 125 cycles per km
    assert label == "wavenumber (cycles/km)" and f[-1] == pytest.approx(125)
