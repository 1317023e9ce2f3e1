"""The synthetic generator (reproducible, right SNR and scale, readable by segyio) and statistics."""

import numpy as np
import pytest
import segyio

from seisbatch import stats, synthetic


def test_same_seed_same_file_other_seed_other_file(small_spec, tmp_path):
    a, b, c = tmp_path / "a.sgy", tmp_path / "b.sgy", tmp_path / "c.sgy"
    synthetic.write_segy(a, small_spec, snr_db=3)
    synthetic.write_segy(b, small_spec, snr_db=3)
    synthetic.write_segy(c, synthetic.SurveySpec(**{**small_spec.__dict__, "seed": 4}), snr_db=3)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_noise_level_matches_the_requested_snr(tmp_path):
    spec = synthetic.SurveySpec(n_inline=30, n_crossline=30, n_samples=200, seed=1)
    path = tmp_path / "n.sgy"
    synthetic.write_segy(path, spec, snr_db=5.0)
    with segyio.open(path) as f:
        noisy = segyio.tools.cube(f)
    il, xl = synthetic.trace_positions(spec)
    clean = synthetic.clean_traces(spec, il, xl).reshape(noisy.shape)
    snr = 10 * np.log10(np.sum(clean.astype(np.float64) ** 2) / np.sum((noisy - clean).astype(np.float64) ** 2))
    assert snr == pytest.approx(5.0, abs=0.5)
    assert np.mean(np.abs(clean) < 2) > 0.999 and np.abs(clean).max() > 0.5  # the paper's scale


def test_model_has_structure_in_both_directions(small_spec):
    il, xl = synthetic.trace_positions(small_spec)
    cube = synthetic.clean_traces(small_spec, il, xl).reshape(small_spec.n_inline, small_spec.n_crossline, -1)
    assert not np.allclose(cube[0, 0], cube[-1, -1])  # dip, folds or faults move the reflectors
    assert np.corrcoef(cube[5, 5], cube[5, 6])[0, 1] > 0.5  # but neighbours stay similar


def test_merged_statistics_equal_whole_array_statistics():
    rng = np.random.default_rng(2)
    data = rng.standard_t(3, 100_000).astype(np.float32)
    data[:50] = 0
    parts = [stats.block_stats(c) for c in np.array_split(data, 7)]
    s = stats.merge(parts)
    v = data.astype(np.float64)
    assert s["count"] == v.size and s["zeros"] == 50
    assert s["mean"] == pytest.approx(v.mean()) and s["std"] == pytest.approx(v.std())
    assert s["rms"] == pytest.approx(np.sqrt(np.mean(v**2)))
    assert s["abs_p99"] == pytest.approx(np.percentile(np.abs(v), 99), rel=0.03)
    assert s["abs_p50"] == pytest.approx(np.percentile(np.abs(v), 50), rel=0.03)


def test_non_finite_samples_are_counted_not_averaged():
    s = stats.merge([stats.block_stats(np.array([1.0, np.nan, np.inf, -1.0], np.float32))])
    assert s["nonfinite"] == 2 and s["count"] == 2 and s["rms"] == 1.0


def test_statistics_stay_exact_for_large_offsets_and_amplitudes():
    """The fast float32 sum of squares must not be taken where it is not exact enough: a large
    mean (variance = sumsq/n - mean², which cancels) or squares beyond float32's range."""
    rng = np.random.default_rng(3)
    offset = (1000.0 + rng.standard_normal(50_000)).astype(np.float32)  # std 1 around 1000
    s = stats.merge([stats.block_stats(offset)])
    assert s["std"] == pytest.approx(offset.astype(np.float64).std(), rel=1e-6)
    huge = (rng.standard_normal(50_000) * 1e25).astype(np.float32)  # squares overflow float32
    s = stats.merge([stats.block_stats(huge)])
    assert s["nonfinite"] == 0 and s["count"] == huge.size
    assert s["rms"] == pytest.approx(np.sqrt(np.mean(huge.astype(np.float64) ** 2)), rel=1e-9)
