"""make-dataset: the paper's layout, reproducibility, noise levels and kinds, and patches from a store."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from seisbatch import convert, dataset, stats, synthetic
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError


def _read(path):
    with h5py.File(path, "r") as f:
        return f["X"][:], f["Y"][:], dict(f.attrs)


def test_layout_matches_the_papers_file(tmp_path):
    out = tmp_path / "d.h5"
    assert main(["make-dataset", str(out), "--count", "250", "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        assert set(f) == {"X", "Y"}
        for name in ("X", "Y"):
            assert f[name].shape == (250, 64, 64, 1) and f[name].dtype == np.float32
        assert int(f.attrs["n_test"]) == 50  # a fifth of a small file; 1000 for the full 12800
    assert not list(tmp_path.glob("*.partial"))


def test_clean_patches_are_at_the_papers_scale(tmp_path):
    dataset.make_dataset(str(tmp_path / "d.h5"), count=400)
    _, y, _ = _read(tmp_path / "d.h5")
    a = np.abs(y)
    assert 0.9 < np.percentile(a, 99) < 1.1  # the scale rule: p99 |amplitude| -> 1
    assert (a < 2).mean() > 0.999
    assert (y.reshape(400, -1).std(axis=1) > 0.01).mean() > 0.95  # few flat patches


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    def digest(seed, name):
        dataset.make_dataset(str(tmp_path / name), count=120, seed=seed, noise=dataset.NoiseSpec(0, 20), overwrite=True)
        x, y, _ = _read(tmp_path / name)
        return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()

    assert digest(7, "a.h5") == digest(7, "b.h5")
    assert digest(7, "a.h5") != digest(8, "c.h5")


@pytest.mark.parametrize("snr", [0.0, 5.0, 15.0])
def test_fixed_noise_level_gives_that_snr(tmp_path, snr):
    dataset.make_dataset(str(tmp_path / "d.h5"), count=300, noise=dataset.NoiseSpec(snr, snr), overwrite=True)
    x, y, _ = _read(tmp_path / "d.h5")
    # SNR is against the survey RMS: over many patches the aggregate equals the request
    assert snr - 0.6 < 10 * np.log10(np.sum(y.astype(float) ** 2) / np.sum((x - y).astype(float) ** 2)) < snr + 0.6


def test_range_of_levels_and_clean_fraction(tmp_path):
    dataset.make_dataset(str(tmp_path / "d.h5"), count=600, noise=dataset.NoiseSpec(0, 20, clean_fraction=0.25))
    x, y, _ = _read(tmp_path / "d.h5")
    noise_rms = np.sqrt(np.mean((x - y).astype(float) ** 2, axis=(1, 2, 3)))
    clean = noise_rms == 0
    assert 0.18 < clean.mean() < 0.32
    spread = noise_rms[~clean]
    assert spread.max() / spread.min() > 6  # 20 dB of range is a factor of 10 in noise level


def test_band_limited_noise_stays_in_its_band():
    rng = np.random.default_rng(0)
    clean = np.zeros((50, 64, 64), np.float32)
    noisy = dataset.NoiseSpec(5, 5, kind="band", band=(0.2, 0.4)).add(clean, 1.0, rng)
    power = (np.abs(np.fft.rfft(noisy, axis=-1)) ** 2).mean(axis=(0, 1))
    f = np.fft.rfftfreq(64) * 2
    inside = (f >= 0.2) & (f <= 0.4)
    assert power[~inside].sum() < 1e-6 * power[inside].sum()
    assert np.isclose(noisy.std(), 10 ** (-5 / 20), rtol=0.05)


def test_patches_from_a_store_are_its_scaled_live_traces(tmp_path, client):
    spec = synthetic.SurveySpec(n_inline=5, n_crossline=150, n_samples=140, seed=11)
    sgy = tmp_path / "s.sgy"
    synthetic.write_segy(sgy, spec, missing=0.004)
    zpath = str(tmp_path / "s.zarr")
    convert.convert_segy(str(sgy), zpath, client=client)
    out = str(tmp_path / "d.h5")
    assert main(["make-dataset", out, "--from", zpath, "--count", "20", "--snr", "5", "--stride", "16", "--quiet"]) == 0
    x, y, attrs = _read(out)
    assert len(y) == 20
    import zarr

    root = zarr.open_group(zpath, mode="r")
    amp = root["amplitude"][:] * stats.scale_factor(root.attrs["seisbatch"]["stats"])
    mask = root["trace_mask"][:]
    assert not mask.all()
    # every clean patch is a stride-aligned window of the scaled survey over live traces only
    for p in y[..., 0]:
        hits = [(i, t, s) for i in range(amp.shape[0]) for t in range(0, amp.shape[1] - 63, 16)
                for s in range(0, amp.shape[2] - 63, 16) if np.allclose(amp[i, t : t + 64, s : s + 64], p, atol=1e-6)]
        assert len(hits) == 1
        i, t, _ = hits[0]
        assert mask[i, t : t + 64].all()
    assert '"store"' in str(attrs["seisbatch"])


def test_store_smaller_than_a_patch_is_refused(tmp_path, client, small_spec):
    sgy = tmp_path / "s.sgy"
    synthetic.write_segy(sgy, small_spec)
    zpath = str(tmp_path / "s.zarr")
    convert.convert_segy(str(sgy), zpath, client=client)
    with pytest.raises(SeisbatchError, match="smaller than one 64x64 patch"):
        dataset.make_dataset(str(tmp_path / "d.h5"), count=10, source=zpath)
    assert not (tmp_path / "d.h5").exists()


def test_existing_output_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "d.h5"
    out.write_bytes(b"keep me")
    assert main(["make-dataset", str(out), "--count", "10", "--quiet"]) == 2
    assert "output exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
