"""seisbatch adapt: the self-supervised losses, patches sampled on Dask, learning, resume, and the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import zarr

from conftest import small_model
from seisbatch import adapt, convert, patches, synthetic
from seisbatch import model as dncnn
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError


@pytest.fixture(scope="module")
def noisy_store(tmp_path_factory, client):
    d = tmp_path_factory.mktemp("adapt")
    spec = synthetic.SurveySpec(n_inline=6, n_crossline=90, n_samples=150, seed=5)
    synthetic.write_segy(d / "s.sgy", spec, snr_db=5, missing=0.006)
    path = str(d / "s.zarr")
    convert.convert_segy(str(d / "s.sgy"), path, client=client)
    return path


def _loss(y_true, y_pred) -> float:
    return float(np.asarray(adapt.weighted_mse(y_true.astype(np.float32), y_pred.astype(np.float32))))


def test_weighted_mse_counts_only_the_weighted_samples():
    rng = np.random.default_rng(0)
    target, pred = rng.standard_normal((2, 8, 8, 1)), rng.standard_normal((2, 8, 8, 1))
    weight = (rng.random((2, 8, 8, 1)) < 0.1).astype(float)
    y_true = np.concatenate([target, weight], axis=-1)
    base = _loss(y_true, pred)
    assert base == pytest.approx(float(((pred - target) ** 2 * weight).sum() / weight.sum()), rel=1e-5)
    changed = pred + 5 * (1 - weight)  # only unmasked samples change
    assert _loss(y_true, changed) == pytest.approx(base, rel=1e-6)
    assert _loss(y_true, pred + 5 * weight) > base + 1


def test_pairs_of_each_loss():
    rng = np.random.default_rng(1)
    y = rng.standard_normal((4, 64, 64)).astype(np.float32)
    spot = adapt.AdaptSpec(loss="blind-spot", mask_fraction=0.02)
    x, t = adapt.pairs(y, spot, 0.0, np.random.default_rng(2))
    w = t[..., 1]
    assert x.shape == (4, 64, 64, 1) and t.shape == (4, 64, 64, 2)
    assert 70 <= w[0].sum() <= 82  # 2% of 4096 (a position drawn twice counts once)
    np.testing.assert_array_equal(x[..., 0][w == 0], y[w == 0])  # only masked samples change ...
    assert (x[..., 0][w == 1] != y[w == 1]).mean() > 0.9  # ... to a neighbour's value
    np.testing.assert_array_equal(t[..., 0], y)  # the target is the noisy data itself
    trace = adapt.AdaptSpec(loss="blind-trace", mask_fraction=0.05)
    x, t = adapt.pairs(y, trace, 0.0, np.random.default_rng(3))
    per_trace = t[..., 1].sum(axis=2)
    assert set(np.unique(per_trace)) == {0.0, 64.0} and (per_trace[0] == 64).sum() == 3  # whole traces
    rec = adapt.AdaptSpec(loss="recorrupted", alpha=0.5)
    x, t = adapt.pairs(y, rec, 0.3, np.random.default_rng(4))
    z = (x[..., 0] - y) / 0.5
    np.testing.assert_allclose(t[..., 0], y - z / 0.5, atol=1e-5)  # y + a z in, y - z / a out
    assert np.std(z) == pytest.approx(0.3, rel=0.05) and (t[..., 1] == 1).all()


def test_patches_are_sampled_on_dask_from_live_traces(noisy_store, client):
    got, scale = patches.sample(noisy_store, 50, 0, "inline", client)
    root = zarr.open_group(noisy_store, mode="r")
    amp, mask = root["amplitude"][:] * scale, root["trace_mask"][:]
    assert got.shape == (50, 64, 64) and not mask.all()
    for p in got[:10]:
        hits = [(i, t) for i in range(amp.shape[0]) for t in range(amp.shape[1] - 63)
                if np.allclose(amp[i, t : t + 64, : 150], 0) is False and any(
                    np.array_equal(amp[i, t : t + 64, s : s + 64], p) for s in range(150 - 63))]
        assert hits and all(mask[i, t : t + 64].all() for i, t in hits)
    again, _ = patches.sample(noisy_store, 50, 0, "inline", client)
    np.testing.assert_array_equal(got, again)  # seeded


def test_small_sections_give_patches_of_their_own_size(tmp_path, client):
    assert patches.patch_shape((23, 18, 75)) == (18, 64) and patches.patch_shape((200, 50)) == (64, 50)
    with pytest.raises(ValueError, match="6 traces x 150 samples are too small"):
        patches.patch_shape((90, 6, 150))
    synthetic.write_segy(tmp_path / "s.sgy", synthetic.SurveySpec(n_inline=5, n_crossline=20, n_samples=48, seed=2), snr_db=5)
    convert.convert_segy(str(tmp_path / "s.sgy"), str(tmp_path / "s.zarr"), client=client)
    got, scale = patches.sample(str(tmp_path / "s.zarr"), 12, 0, "inline", client)
    amp = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")["amplitude"][:] * scale
    assert got.shape == (12, 20, 48)
    assert all(any(np.array_equal(a, p) for a in amp) for p in got)  # whole sections of 20 x 48
    with pytest.raises(SeisbatchError, match="too small"):
        patches.sample(str(tmp_path / "s.zarr"), 12, 0, "crossline", client)


@pytest.mark.parametrize("loss", ["recorrupted", "blind-spot"])
def test_adapting_lowers_the_loss(noisy_store, client, tmp_path, loss):
    base = small_model(tmp_path / "base.keras", depth=5, filters=8)
    data, scale = patches.sample(noisy_store, 64, 0, "inline", client)
    spec = adapt.AdaptSpec(loss=loss, epochs=6, patches=64, learning_rate=3e-3, mask_fraction=0.05)
    r = adapt.adapt(data, str(tmp_path / "a.keras"), base, spec, {"store": noisy_store, "scale": scale}, verbose=0)
    x, t = adapt.pairs(data, spec, r["params"]["sigma_used"] or 0.0, np.random.default_rng(99))  # pairs never trained on
    before = _loss(t, dncnn.predict(dncnn.load(base), x))
    after = _loss(t, dncnn.predict(dncnn.load(tmp_path / "a.keras"), x))
    assert after < 0.9 * before
    assert r["digest"] != r["params"]["base_digest"]
    m = json.loads((tmp_path / "a.metrics.json").read_text())
    assert m["params"]["store"] == noisy_store and m["params"]["loss"] == loss
    assert set(m["removed_level"]) == {"base", "adapted", "ratio"}  # the guard's measurement is recorded


def test_a_model_that_learned_the_identity_is_caught(tmp_path):
    model = dncnn.load(small_model(tmp_path / "m.keras"))
    data = np.random.default_rng(0).standard_normal((8, 64, 64)).astype(np.float32)
    assert adapt.removed_level(model, data) > 0.01
    last = model.layers[-1] if model.layers[-1].get_weights() else next(
        layer for layer in reversed(model.layers) if layer.get_weights())
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])  # the residual is 0: output = input
    assert adapt.removed_level(model, data) < 1e-6


def test_the_learning_rate_warms_up_then_decays_over_all_epochs():
    spec = adapt.AdaptSpec(epochs=4, patches=800, batch_size=16, learning_rate=3e-4)  # 200 steps, 20 of warm-up
    rate = adapt.learning_rate(spec)
    at = [float(rate(k)) for k in (0, 10, 20, 110, 199, 200)]
    assert at[0] == 0 and at[1] == pytest.approx(1.5e-4) and at[2] == pytest.approx(3e-4)
    assert at[3] == pytest.approx(1.5e-4, rel=0.02) and at[4] < 1e-7 and at[5] == 0
    assert adapt.learning_rate(replace(spec, schedule="constant")) == 3e-4
    short = adapt.learning_rate(replace(spec, epochs=1, patches=32))  # 2 steps: still warming up
    assert float(short(1)) == pytest.approx(3e-4 / 20)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_a_resumed_adaptation_equals_an_unbroken_one(noisy_store, client, tmp_path, monkeypatch, schedule):
    base = small_model(tmp_path / "base.keras", depth=4, filters=8)
    data, scale = patches.sample(noisy_store, 48, 1, "inline", client)
    info = {"store": noisy_store, "scale": scale}
    spec = adapt.AdaptSpec(epochs=3, patches=48, schedule=schedule)
    whole = adapt.adapt(data, str(tmp_path / "whole.keras"), base, spec, info, verbose=0)
    if schedule == "cosine":  # killed after its first epoch, then the same command with --resume
        saved = adapt.EpochCheckpoints.on_epoch_end

        def killed(self, epoch, logs=None):
            saved(self, epoch, logs)
            raise _Killed

        monkeypatch.setattr(adapt.EpochCheckpoints, "on_epoch_end", killed)
        with pytest.raises(_Killed):
            adapt.adapt(data, str(tmp_path / "part.keras"), base, spec, info, verbose=0)
        monkeypatch.undo()
        with pytest.raises(SeisbatchError, match="different settings: epochs"):  # the cosine spans all epochs
            adapt.adapt(data, str(tmp_path / "part.keras"), base, replace(spec, epochs=4), info, resume=True, verbose=0)
    else:  # a constant rate may be resumed for more epochs
        adapt.adapt(data, str(tmp_path / "part.keras"), base, replace(spec, epochs=1), info, verbose=0)
    part = adapt.adapt(data, str(tmp_path / "part.keras"), base, spec, info, resume=True, verbose=0)
    a, b = dncnn.load(tmp_path / "whole.keras"), dncnn.load(tmp_path / "part.keras")
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-7)
    assert whole["params"]["sigma_used"] == part["params"]["sigma_used"]


def test_cli_adapt_then_denoise_with_the_adapted_model(noisy_store, client, tmp_path, capsys):
    base = small_model(tmp_path / "base.keras", depth=4, filters=8)
    out = str(tmp_path / "adapted.keras")
    addr = ["--scheduler", client.scheduler.address, "--quiet"]
    assert main(["adapt", noisy_store, "--out", out, "--model", base, "--patches", "32", "--epochs", "1", *addr]) == 0
    out_text = capsys.readouterr().out
    assert "adapted" in out_text and "it removes" in out_text
    assert main(["adapt", noisy_store, "--out", out, "--model", base, *addr]) == 2  # exists: --resume or --overwrite
    assert main(["adapt", noisy_store, "--out", str(tmp_path / "x.keras"), "--epochs", "0", *addr]) == 2
    assert "epochs must be at least 1" in capsys.readouterr().err
    assert main(["denoise", noisy_store, "--model", out, "--array", "adapted", *addr]) == 0
    attrs = zarr.open_group(noisy_store, mode="r")["adapted"].attrs["seisbatch"]
    assert attrs["complete"] and attrs["model_digest"] == dncnn.digest(dncnn.load(out))


def test_recorruption_takes_the_noise_spectrum():
    n = 64
    f = np.fft.rfftfreq(n) * 2
    band = ((f >= 0.1) & (f <= 0.4)).astype(float)
    shape = adapt.unit_response(band, n)
    y = np.zeros((200, 64, n), np.float32)
    x, t = adapt.pairs(y, adapt.AdaptSpec(), 0.5, np.random.default_rng(0), shape)
    z = x[..., 0] / 0.5  # y is zero: the input is a z
    assert np.std(z) == pytest.approx(0.5, rel=0.03)  # the level is kept
    power = np.mean(np.abs(np.fft.rfft(z, axis=-1)) ** 2, axis=(0, 1))
    assert power[band == 0].sum() < 1e-6 * power[band == 1].sum()  # and the band
    white, _ = adapt.pairs(y, adapt.AdaptSpec(), 0.5, np.random.default_rng(0))
    pw = np.mean(np.abs(np.fft.rfft(white[..., 0], axis=-1)) ** 2, axis=(0, 1))
    assert pw[band == 0].sum() > 0.3 * pw.sum()
