"""The DnCNN: the paper's architecture, its receptive field, formats, digest and backend neutrality."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from seisbatch import model as dncnn


@pytest.fixture(scope="module")
def paper_model():
    keras.utils.set_random_seed(1)
    return dncnn.build_dncnn()


def _perturb_bn(m, seed: int = 0) -> None:
    """Give BatchNorm non-trivial statistics so equivalence tests exercise them."""
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, mean, var = layer.get_weights()
            layer.set_weights([g * rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 2.0, var.shape)])


def test_layers_and_parameter_count_match_the_papers_code(paper_model):
    kinds = [layer.__class__.__name__ for layer in paper_model.layers]
    assert kinds == ["InputLayer", "Conv2D"] + ["Conv2D", "BatchNormalization", "ReLU"] * 15 + ["Conv2D", "Subtract"]
    convs = [layer for layer in paper_model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 17
    assert [c.filters for c in convs] == [64] * 16 + [1]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" for c in convs)
    assert convs[0].use_bias and not any(c.use_bias for c in convs[1:])
    assert convs[0].activation.__name__ == "relu"
    bns = [layer for layer in paper_model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert {(b.momentum, b.epsilon, b.axis) for b in bns} == {(0.0, 1e-4, -1)}
    # 640 + 15 * (36864 + 256) + 576: the count printed by the paper's Keras model.summary()
    assert paper_model.count_params() == 558_016
    assert sum(int(np.prod(w.shape)) for w in paper_model.trainable_weights) == 556_096


def test_output_is_input_minus_predicted_noise(paper_model):
    x = np.random.default_rng(0).normal(size=(2, 40, 24, 1)).astype(np.float32)
    noise_branch = keras.Model(paper_model.input, paper_model.get_layer("conv_17").output)
    np.testing.assert_allclose(dncnn.predict(paper_model, x), x - noise_branch.predict(x, verbose=0), atol=1e-5)


def test_receptive_radius_is_one_sample_per_layer():
    keras.utils.set_random_seed(2)
    m = dncnn.build_dncnn(depth=5, filters=8)
    _perturb_bn(m)
    x = np.zeros((1, 31, 31, 1), np.float32)
    y0 = dncnn.predict(m, x)
    x[0, 15, 15, 0] = 1.0
    changed = np.argwhere(np.abs(dncnn.predict(m, x) - y0)[0, ..., 0] > 0)
    assert dncnn.receptive_radius(m) == 5
    assert np.abs(changed - 15).max() == 5  # reaches exactly the radius, never beyond


def test_keras_and_weights_files_round_trip_with_the_same_digest(tmp_path, paper_model):
    _perturb_bn(paper_model)
    x = np.random.default_rng(3).normal(size=(2, 64, 64, 1)).astype(np.float32)
    y = dncnn.predict(paper_model, x)
    d = dncnn.digest(paper_model)
    for name in ("m.keras", "m.weights.h5"):
        dncnn.save(paper_model, tmp_path / name)
        loaded = dncnn.load(tmp_path / name)
        assert dncnn.digest(loaded) == d
        np.testing.assert_array_equal(dncnn.predict(loaded, x), y)
    assert not list(tmp_path.glob("*partial*"))


def test_a_model_saved_without_its_optimizer_holds_only_the_weights(tmp_path):
    import io
    import zipfile

    import h5py

    m = dncnn.build_dncnn(3, 4)
    m.compile(optimizer=keras.optimizers.RMSprop(), loss="mse")
    m.fit(np.ones((4, 8, 8, 1), np.float32), np.zeros((4, 8, 8, 1), np.float32), verbose=0)

    def optimizer_arrays(path):
        with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5"))) as f:
            found = []
            if "optimizer" in f:
                f["optimizer"].visititems(lambda k, o: found.append(k) if isinstance(o, h5py.Dataset) else None)
            return found

    dncnn.save(m, tmp_path / "ckpt.keras")
    dncnn.save(m, tmp_path / "ship.keras", include_optimizer=False)
    assert optimizer_arrays(tmp_path / "ckpt.keras")  # a checkpoint keeps RMSprop's state
    assert optimizer_arrays(tmp_path / "ship.keras") == []
    assert dncnn.digest(dncnn.load(tmp_path / "ship.keras")) == dncnn.digest(m)


def test_digest_changes_with_any_weight(paper_model):
    d = dncnn.digest(paper_model)
    layer = paper_model.get_layer("bn_9")
    w = layer.get_weights()
    w[2] = w[2] + 1e-3  # moving mean: not trainable, still part of the model
    layer.set_weights(w)
    assert dncnn.digest(paper_model) != d
    w[2] = w[2] - 1e-3
    layer.set_weights(w)


def test_loading_a_bad_model_is_a_clear_error(tmp_path):
    from seisbatch.errors import SeisbatchError

    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(SeisbatchError, match="broken.keras: cannot load model"):
        dncnn.load(bad)
    with pytest.raises(SeisbatchError, match="model file not found"):
        dncnn.load(tmp_path / "missing.keras")


def test_same_weights_same_output_under_tensorflow_and_jax(tmp_path, paper_model):
    assert keras.backend.backend() == "tensorflow"
    _perturb_bn(paper_model, seed=5)
    dncnn.save(paper_model, tmp_path / "w.weights.h5")
    x = np.random.default_rng(4).normal(size=(3, 50, 70, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    y_tf = dncnn.predict(paper_model, x)
    script = textwrap.dedent(f"""
        import json, numpy as np, keras
        from seisbatch import model as dncnn
        from concurrent.futures import ThreadPoolExecutor
        m = dncnn.load({str(tmp_path / 'w.weights.h5')!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        y = dncnn.predict(m, x)
        np.save({str(tmp_path / 'y.npy')!r}, y)
        # a worker's task threads share its model: under JAX they once failed ("Array has been deleted")
        with ThreadPoolExecutor(4) as pool:
            same = all(np.array_equal(r, y) for r in pool.map(lambda _: dncnn.predict(m, x, 1), range(12)))
        print(json.dumps({{"backend": keras.backend.backend(), "digest": dncnn.digest(m), "threads_agree": same}}))
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {"backend": "jax", "digest": dncnn.digest(paper_model), "threads_agree": True}
    y_jax = np.load(tmp_path / "y.npy")
    assert np.abs(y_tf).max() > 1
    np.testing.assert_allclose(y_jax, y_tf, atol=2e-4 * np.abs(y_tf).max())


def test_inference_form_folds_batchnorm_into_the_convolutions():
    m = dncnn.load()  # the shipped model: trained BatchNorm statistics, far from the identity
    f = dncnn.for_inference(m)
    assert dncnn.is_folded(f) and not dncnn.is_folded(m)
    assert dncnn.architecture(f) == dncnn.architecture(m)
    assert f.count_params() == m.count_params() - 15 * 64 * 3  # gamma, mean, var gone; beta is the bias
    x = np.random.default_rng(8).normal(0, 0.5, size=(2, 40, 60, 1)).astype(np.float32)
    y, yf = dncnn.predict(m, x), dncnn.predict(f, x)
    noise = x - y  # what the network computes; the residual adds the input back
    assert np.linalg.norm(noise - (x - yf)) / np.linalg.norm(noise) < 1e-5
    h = dncnn.for_inference(m, "bfloat16")
    assert dncnn.is_folded(h) and h.layers[1].dtype_policy.compute_dtype == "bfloat16"
    assert h.layers[1].kernel.dtype == "float32"
    yh = dncnn.predict(h, x)
    assert 0 < np.linalg.norm(yh - yf) / np.linalg.norm(noise) < 0.05


def test_mixed_precision_model_keeps_float32_output_close_to_float32(paper_model):
    mp = dncnn.build_dncnn(dtype="mixed_float16")
    mp.set_weights(paper_model.get_weights())
    x = np.random.default_rng(6).normal(size=(1, 32, 32, 1)).astype(np.float32)
    y16, y32 = dncnn.predict(mp, x), dncnn.predict(paper_model, x)
    assert y16.dtype == np.float32
    err = np.abs(y16 - y32).max() / np.abs(y32).max()
    assert 0 < err < 0.05


def test_shipped_model_is_the_one_its_card_describes():
    import pathlib
    import re

    path = pathlib.Path(dncnn.default_model_path())
    card = (path.parent / "MODEL_CARD.md").read_text()
    m = dncnn.load()  # the default: the shipped model
    assert dncnn.architecture(m) == {"depth": 17, "filters": 64} and m.count_params() == 558_016
    digest = re.search(r"\*\*Digest\*\*.*`([0-9a-f]{64})`", card).group(1)
    assert dncnn.digest(m) == digest
    assert path.name == "dncnn-field.keras" and json.loads((path.parent / "dncnn-field.metrics.json").read_text())["digest"] == digest
