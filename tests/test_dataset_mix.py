"""make-dataset from several surveys: mixing with synthetic patches, a split by survey, augmentation
and mixed noise kinds."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import zarr

from seisbatch import augment, convert, dataset, stats, synthetic
from seisbatch.cli import main


def _store(tmp_path, client, name: str, seed: int, n_xl: int = 140) -> str:
    spec = synthetic.SurveySpec(n_inline=3, n_crossline=n_xl, n_samples=150, seed=seed, peak_hz=15.0 + 3 * seed)
    synthetic.write_segy(tmp_path / f"{name}.sgy", spec)
    path = str(tmp_path / f"{name}.zarr")
    convert.convert_segy(str(tmp_path / f"{name}.sgy"), path, client=client)
    return path


def _windows(path: str, stride: int = 32) -> np.ndarray:
    """Every stride-aligned 64x64 window of a store's scaled inline sections, flattened."""
    root = zarr.open_group(path, mode="r")
    amp = root["amplitude"][:] * stats.scale_factor(root.attrs["seisbatch"]["stats"])
    return np.stack([amp[i, t : t + 64, s : s + 64].ravel() for i in range(amp.shape[0])
                     for t in range(0, amp.shape[1] - 63, stride) for s in range(0, amp.shape[2] - 63, stride)])


def _found(patches: np.ndarray, windows: np.ndarray) -> np.ndarray:
    flat = patches.reshape(len(patches), -1)
    d = np.abs(flat[:, None, :] - windows[None, :, :]).max(axis=-1)
    return d.min(axis=1) < 1e-5


def test_mix_of_stores_and_synthetic_with_a_split_by_survey(tmp_path, client):
    a, b, held = (_store(tmp_path, client, n, s) for n, s in (("a", 1), ("b", 2), ("held", 3)))
    out = str(tmp_path / "d.h5")
    assert main(["make-dataset", out, "--from", a, "--from", b, "--synthetic-fraction", "0.5", "--test-from", held,
                 "--count", "100", "--test-count", "20", "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        y, n_test = f["Y"][:, :, :, 0], int(f.attrs["n_test"])
        recipe = json.loads(f.attrs["seisbatch"])["source"]
    assert len(y) == 100 and n_test == 20
    assert [s["patches"] for s in recipe["stores"]] == [20, 20] and recipe["test_stores"][0]["patches"] == 20
    wa, wb, wh = _windows(a), _windows(b), _windows(held)
    train, test = y[:-n_test], y[-n_test:]
    in_a, in_b = _found(train, wa), _found(train, wb)
    assert in_a.sum() == 20 and in_b.sum() == 20  # 40% each... of the 80 training patches: 40 synthetic
    assert not _found(train, wh).any()  # no training patch from the held-out survey
    assert _found(test, wh).all()  # every held-out patch from it


def test_a_store_cannot_be_both_training_and_test(tmp_path, client, capsys):
    a = _store(tmp_path, client, "a", 1)
    assert main(["make-dataset", str(tmp_path / "d.h5"), "--from", a, "--test-from", a, "--count", "10", "--quiet"]) == 2
    assert "both a training source and a held-out" in capsys.readouterr().err
    assert not (tmp_path / "d.h5").exists()


def test_augmentation_makes_more_patches_than_one_pass_and_new_ones(tmp_path, client):
    a = _store(tmp_path, client, "a", 1, n_xl=70)  # one pass: 3 sections x 1 x 3 windows = 9 patches
    plain, aug = str(tmp_path / "p.h5"), str(tmp_path / "q.h5")
    r = dataset.make_dataset(plain, count=200, source=a)
    assert r["count"] == 9
    r = dataset.make_dataset(aug, count=200, source=a, augment=dataset.AugmentSpec())
    assert r["count"] == 200
    with h5py.File(aug, "r") as f:
        y = f["Y"][:, :, :, 0]
    assert _found(y, _windows(a)).mean() < 0.2  # changed, not copied
    assert 0.5 < np.percentile(np.abs(y), 99) < 2.0  # still at the model's scale


def test_resampling_moves_frequencies_and_keeps_amplitude():
    t = np.arange(400)
    sec = np.tile(np.sin(2 * np.pi * 0.05 * t), (4, 1)).astype(np.float32)  # 0.05 cycles/sample at 4 ms = 12.5 Hz
    still = augment.AugmentSpec(dt_range_ms=(8.0, 8.0), tilt=0.0, highcut_probability=0.0, max_dip=0.0)
    out = augment.region(sec, 4.0, np.random.default_rng(0), still)
    assert out.shape == (4, 200)
    peak = np.argmax(np.abs(np.fft.rfft(out[0]))) / 200
    assert peak == pytest.approx(0.1, abs=0.006)  # 12.5 Hz at 8 ms
    assert np.sqrt(np.mean(out[:, 20:-20] ** 2)) == pytest.approx(np.sqrt(0.5), rel=0.05)
    fine = augment.region(sec, 4.0, np.random.default_rng(0), augment.AugmentSpec(dt_range_ms=(1.0, 1.0), tilt=0.0,
                                                                                   highcut_probability=0.0, max_dip=0.0))
    assert fine.shape == (4, 1600)


def test_dip_shears_a_flat_event():
    sec = np.zeros((21, 200), np.float32)
    sec[:, 100] = 1.0
    spec = augment.AugmentSpec(dt_range_ms=(4.0, 4.0), tilt=0.0, highcut_probability=0.0, max_dip=0.6)
    rng = np.random.default_rng(5)
    dip = np.random.default_rng(5)
    dip.uniform(1, 8)  # the draws of region(): sampling interval, then dip
    expected = dip.uniform(-0.6, 0.6)
    out = augment.region(sec, 4.0, rng, spec)
    picks = np.array([np.argmax(tr) for tr in out])
    slope = np.polyfit(np.arange(21), picks, 1)[0]
    assert abs(expected) > 0.05 and slope == pytest.approx(expected, abs=0.06)


def test_patch_flips_and_gain_stay_in_range():
    p = np.random.default_rng(9).standard_normal((64, 64)).astype(np.float32)
    seen = set()
    for seed in range(40):
        q = augment.patch(p, np.random.default_rng(seed))
        fits = []
        for trace_flip, base in ((False, p), (True, p[::-1])):
            g = float(q.ravel() @ base.ravel() / (base.ravel() @ base.ravel()))
            fits.append((np.abs(q - g * base).max(), trace_flip, g))
        err, trace_flip, g = min(fits)
        assert err < 1e-5 and 0.7 <= abs(g) <= 1.4  # a flipped copy with a gain, nothing else
        seen.add((trace_flip, g < 0))
    assert len(seen) == 4  # both flips, each way


def test_mixed_noise_has_both_kinds():
    rng = np.random.default_rng(0)
    clean = np.zeros((400, 64, 64), np.float32)
    noisy = dataset.NoiseSpec(5, 5, kind="mixed", band=(0.2, 0.4), band_fraction=0.25).add(clean, 1.0, rng)
    f = np.fft.rfftfreq(64) * 2
    power = np.abs(np.fft.rfft(noisy, axis=-1)) ** 2
    outside = power[:, :, (f < 0.2) | (f > 0.4)].sum(axis=(1, 2)) / power.sum(axis=(1, 2))
    banded = outside < 1e-6
    assert 0.18 < banded.mean() < 0.32
    with pytest.raises(ValueError):
        dataset.NoiseSpec(kind="pink")
