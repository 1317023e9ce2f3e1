"""train / evaluate: the loss goes down, resume continues exactly, outputs are written, HDF5 streams."""

from __future__ import annotations

import csv
import json
import tracemalloc

import h5py
import numpy as np
import pytest

from seisbatch import dataset, training
from seisbatch import model as dncnn
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError

SMALL = dict(depth=5, filters=16, batch_size=16)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d.h5"
    dataset.make_dataset(str(path), count=240, noise=dataset.NoiseSpec(5, 5), seed=3)
    return str(path)


def _history(path):
    with open(training.artifacts(path)["history"]) as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def test_a_few_steps_lower_the_loss(tmp_path, data):
    out = str(tmp_path / "m.keras")
    r = training.train(data, out, training.TrainSpec(epochs=3, **SMALL), verbose=0)
    loss = _history(out)
    assert len(loss) == 3 and loss[-1] < 0.7 * loss[0]
    held = r["held_out"]
    assert held["patches"] == 48 and held["mse_after"] < held["mse_before"]
    assert held["snr_gain_db"] == pytest.approx(held["snr_after_db"] - held["snr_before_db"])


def test_outputs_metrics_and_figures(tmp_path, data, capsys):
    out = str(tmp_path / "m.keras")
    assert main(["train", data, "--out", out, "--epochs", "1", "--depth", "4", "--filters", "8", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "SNR" in printed and "clean patches through the model" in printed
    paths = training.artifacts(out)
    for key in ("model", "checkpoint", "history", "metrics", "loss_figure", "training_figure", "test_figure"):
        with open(paths[key], "rb") as fh:
            head = fh.read(8)
        assert head.startswith(b"\x89PNG") if key.endswith("figure") else len(head) > 0
    metrics = json.load(open(paths["metrics"]))
    m = dncnn.load(out)
    assert metrics["digest"] == dncnn.digest(m)
    assert dncnn.architecture(m) == {"depth": 4, "filters": 8}
    assert metrics["params"]["batch_size"] == 32 and metrics["params"]["learning_rate"] == 1e-3  # the paper's defaults
    ev = training.evaluate_file(out, data)
    assert ev["snr_after_db"] == pytest.approx(metrics["held_out"]["snr_after_db"], abs=1e-4)


def test_resume_continues_to_the_same_weights(tmp_path, data):
    straight, stopped = str(tmp_path / "a.keras"), str(tmp_path / "b.keras")
    training.train(data, straight, training.TrainSpec(epochs=2, **SMALL), verbose=0)
    training.train(data, stopped, training.TrainSpec(epochs=1, **SMALL), verbose=0)
    assert json.load(open(training.artifacts(stopped)["state"]))["epoch"] == 1
    training.train(data, stopped, training.TrainSpec(epochs=2, **SMALL), resume=True, verbose=0)
    assert len(_history(stopped)) == 2
    np.testing.assert_allclose(_history(stopped), _history(straight), rtol=1e-5)
    h = training.read_history(training.artifacts(stopped)["history"])  # what the loss figure draws: both runs' epochs
    assert list(h["epoch"]) == [0, 1] and np.isnan(h["val_loss"]).all()
    np.testing.assert_allclose(h["loss"], _history(straight), rtol=1e-5)
    for a, b in zip(dncnn.load(straight).get_weights(), dncnn.load(stopped).get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_resume_refuses_other_settings_and_missing_checkpoint(tmp_path, data):
    out = str(tmp_path / "m.keras")
    with pytest.raises(SeisbatchError, match="no checkpoint to resume from"):
        training.train(data, out, training.TrainSpec(epochs=1, **SMALL), resume=True, verbose=0)
    training.train(data, out, training.TrainSpec(epochs=1, steps_per_epoch=2, **SMALL), verbose=0)
    with pytest.raises(SeisbatchError, match="different settings: learning_rate"):
        training.train(data, out, training.TrainSpec(epochs=2, steps_per_epoch=2, learning_rate=0.01, **SMALL),
                       resume=True, verbose=0)
    with pytest.raises(SeisbatchError, match="use --resume"):
        training.train(data, out, training.TrainSpec(epochs=1, **SMALL), verbose=0)


def test_bn_recalibration_reports_both_and_changes_statistics(tmp_path, data):
    out = str(tmp_path / "m.keras")
    r = training.train(data, out, training.TrainSpec(epochs=1, steps_per_epoch=4, recalibrate_bn=6, **SMALL), verbose=0)
    assert r["held_out_before_recalibration"]["snr_after_db"] != r["held_out"]["snr_after_db"]
    m = dncnn.load(out)
    assert all(layer.momentum == 0.0 for layer in m.layers if layer.__class__.__name__ == "BatchNormalization")


def test_batches_stream_from_hdf5_without_loading_the_file(tmp_path):
    path = str(tmp_path / "big.h5")
    n = 2000  # 2 x 32 MB of patches
    with h5py.File(path, "w") as f:
        for name in ("X", "Y"):
            d = f.create_dataset(name, (n, 64, 64, 1), "float32", chunks=(1, 64, 64, 1))
            for a in range(0, n, 250):
                v = np.arange(a, a + 250, dtype=np.float32)[:, None, None, None] + (name == "Y") * 0.5
                d[a : a + 250] = np.broadcast_to(v, (250, 64, 64, 1))
    seq = training.PatchBatches(path, n, 32, shuffle=True, seed=1)
    tracemalloc.start()
    seen = []
    for i in range(len(seq)):
        x, y = seq[i]
        np.testing.assert_array_equal(y - x, 0.5)
        seen.extend(x[:, 0, 0, 0].astype(int))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sorted(seen) == list(range(n))  # each patch exactly once per epoch
    assert seen != list(range(n))  # shuffled
    assert peak < 4 << 20  # a batch is 0.5 MB each for X and Y; the file is 64 MB
    seq.set_epoch(1)
    assert [int(v) for v in seq[0][0][:, 0, 0, 0]] != sorted(seen[:32])
    with h5py.File(path) as f:  # the same batch as h5py's own fancy indexing, runs of neighbours included
        for idx in (np.sort(seq.order[96:128]), np.array([0, 1, 2, 7, 9, 10, 1999])):
            np.testing.assert_array_equal(training.take(f["X"], idx), f["X"][idx])


def test_evaluate_cli_and_bad_dataset(tmp_path, data, capsys):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["X"] = np.zeros((4, 64, 64, 1), np.float32)
    out = str(tmp_path / "m.keras")
    training.train(data, out, training.TrainSpec(epochs=1, steps_per_epoch=1, **SMALL), verbose=0)
    assert main(["evaluate", out, str(bad)]) == 2
    assert "bad.h5: no /Y dataset" in capsys.readouterr().err
    assert main(["evaluate", out, data, "--all", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["patches"] == 240 and np.isfinite(r["clean_snr_db"])


def test_train_runs_under_the_jax_backend(tmp_path, data):
    import os
    import subprocess
    import sys

    out = tmp_path / "j.keras"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-m", "seisbatch.cli", "train", data, "--out", str(out), "--epochs", "2",
                        "--depth", "3", "--filters", "4", "--steps-per-epoch", "3"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    # stdout is no terminal (a batch job's log): one line per epoch, not a redrawn progress bar
    assert r.stdout.count("loss:") == 2 and "\x1b[" not in r.stdout, r.stdout[-2000:]
    metrics = json.load(open(training.artifacts(str(out))["metrics"]))
    assert metrics["params"]["backend"] == "jax" and len(_history(str(out))) == 2
    assert dncnn.digest(dncnn.load(out)) == metrics["digest"]  # the JAX-trained file loads under TensorFlow


def test_init_starts_from_a_models_weights(tmp_path, data):
    first = str(tmp_path / "a.keras")
    training.train(data, first, training.TrainSpec(epochs=1, steps_per_epoch=2, **SMALL), verbose=0)
    tuned = str(tmp_path / "b.keras")
    spec = training.TrainSpec(epochs=1, steps_per_epoch=1, learning_rate=1e-9, init=first, **SMALL)
    r = training.train(data, tuned, spec, verbose=0)
    import keras

    def trainable(path):
        return [keras.ops.convert_to_numpy(w) for w in dncnn.load(path).trainable_weights]

    for a, b in zip(trainable(first), trainable(tuned)):
        np.testing.assert_allclose(a, b, atol=1e-5)  # a vanishing step: the weights are the ones given
    assert r["params"]["init_digest"] == dncnn.digest(dncnn.load(first))
    with pytest.raises(SeisbatchError, match="--init model is"):
        training.train(data, str(tmp_path / "c.keras"), training.TrainSpec(epochs=1, init=first, depth=6, filters=16), verbose=0)


def test_a_failed_overwrite_keeps_the_old_model(tmp_path, data, monkeypatch):
    out = str(tmp_path / "m.keras")
    training.train(data, out, training.TrainSpec(epochs=1, steps_per_epoch=1, **SMALL), verbose=0)
    paths = training.artifacts(out)
    before = {k: open(paths[k], "rb").read() for k in ("model", "metrics")}

    def stop(self, epoch, logs=None):
        raise RuntimeError("stopped")

    monkeypatch.setattr(training.EpochCheckpoints, "on_epoch_end", stop)
    with pytest.raises(RuntimeError, match="stopped"):
        training.train(data, out, training.TrainSpec(epochs=1, steps_per_epoch=1, seed=9, **SMALL), overwrite=True,
                       verbose=0)
    for k, v in before.items():
        assert open(paths[k], "rb").read() == v, k
    dncnn.load(out)  # still a whole model


@pytest.mark.parametrize("option, message", [
    (["--epochs", "0"], "epochs must be at least 1, not 0"),
    (["--batch-size", "-2"], "batch-size must be at least 1, not -2"),
    (["--learning-rate", "0"], "learning rate must be positive, not 0.0"),
    (["--depth", "1"], "depth must be at least 2, not 1"),
])
def test_bad_training_settings_fail_in_one_line(tmp_path, capsys, option, message):
    assert main(["train", str(tmp_path / "none.h5"), "--out", str(tmp_path / "m.keras"), *option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "m.keras").exists()


def test_prefetched_batches_are_the_same_batches_in_the_same_order(tmp_path, data):
    """Reading ahead in a thread changes when a batch is read, never which: two epochs of batches
    equal those read one at a time, and a new epoch drops what was read for the old order."""
    from seisbatch import training

    f, n, n_test = training.open_dataset(str(data))
    f.close()
    plain = training.PatchBatches(str(data), n - n_test, 8, True, 3)
    ahead = training.PatchBatches(str(data), n - n_test, 8, True, 3, prefetch=3)
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        ahead.set_epoch(epoch)
        for i in range(len(plain)):
            for a, b in zip(plain[i], ahead[i]):
                np.testing.assert_array_equal(a, b)
    assert ahead._pool is not None and not ahead._ahead  # it did read ahead; nothing left past the end
