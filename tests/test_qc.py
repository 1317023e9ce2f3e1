"""qc: SNR against a clean reference, removed energy and leakage without one, the figure, refusals;
info reports a denoised array's completeness block by block."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from conftest import small_model
from seisbatch import convert, denoise, qc, synthetic
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
