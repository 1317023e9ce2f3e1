"""The inference engines compute the model's function: ONNX Runtime and JAX against Keras, on the
CPU (float32 tolerance), in bare calls and through a whole denoise run; half precision's error is
measured, not assumed."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from conftest import small_model
from seisbatch import denoise, engines, synthetic
from seisbatch import model as dncnn
from seisbatch.cli import main
from seisbatch.convert import convert_segy


@pytest.fixture(scope="module")
def folded(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.keras"
    small_model(path, seed=5, depth=6, filters=8)
    return str(path), dncnn.for_inference(dncnn.load(str(path)))


@pytest.mark.parametrize("engine", ["onnx", "jax"])
def test_each_engine_computes_the_keras_function(folded, engine):
    _, m = folded
    x = np.random.default_rng(1).normal(size=(5, 40, 72)).astype(np.float32)
    ref = dncnn.predict(m, x, 2)
    got = engines.build(m, engine)(x, 2)  # 5 tiles in batches of 2: the last one padded or short
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-5 * np.abs(ref).max())
    assert np.abs(ref - x).max() > 0.01  # the model changes its input: the comparison is not vacuous


def test_half_precision_error_is_small_and_reported_not_zero(folded):
    _, m = folded
    x = np.random.default_rng(2).normal(size=(3, 32, 64)).astype(np.float32)
    ref = dncnn.predict(m, x, 3)
    half = engines.build(m, "jax", "bfloat16")(x, 3)
    rel = float(np.sqrt(((half - ref) ** 2).mean() / (ref**2).mean()))
    assert 0 < rel < 0.02
    with pytest.raises(ValueError, match="float32 or float16"):
        engines.onnx_graph(engines.weights(m), "bfloat16")


def test_a_denoise_run_on_another_engine_gives_the_same_output(folded, tmp_path, client, capsys):
    path, _ = folded
    sgy, z = tmp_path / "s.sgy", str(tmp_path / "s.zarr")
    synthetic.write_segy(sgy, synthetic.SurveySpec(n_inline=6, n_crossline=20, n_samples=64, seed=4), snr_db=5)
    convert_segy(str(sgy), z, client=client, chunks=(3, 20, 64))
    for name, engine in (("by_keras", "keras"), ("by_onnx", "onnx"), ("by_jax", "jax")):
        r = denoise.denoise(z, path, denoise.DenoiseSpec(output=name, engine=engine, tile=(12, 32)), client=client)
        assert r["tasks"] == 2
    root = zarr.open_group(z, mode="r")
    ref = root["by_keras"][:]
    for name in ("by_onnx", "by_jax"):
        np.testing.assert_allclose(root[name][:], ref, atol=2e-5 * np.abs(ref).max())
    assert "engine" not in root["by_keras"].attrs["seisbatch"]["params"]  # keras outputs keep their parameters
    assert root["by_onnx"].attrs["seisbatch"]["params"]["engine"] == "onnx"
    assert main(["denoise", z, "--engine", "onnx", "--precision", "bfloat16", "--quiet"]) == 2
    assert "the onnx engine computes in float32 or float16" in capsys.readouterr().err
