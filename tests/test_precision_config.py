"""Half-precision inference and its error reported by qc; settings in one place (Dask config:
defaults, YAML files, environment variables, CLI); bounded, configurable task retries; each
worker pinned to its own GPU for every backend."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import dask.config
import keras
import numpy as np
import pytest
import zarr

from conftest import small_model
from seisbatch import config, convert, denoise, devices, engine, qc, store, synthetic
from seisbatch import model as dncnn
from seisbatch.cli import main


@pytest.fixture(scope="module")
def noisy(tmp_path_factory):
    from distributed import Client, LocalCluster

    tmp = tmp_path_factory.mktemp("prec")
    spec = synthetic.SurveySpec(n_inline=4, n_crossline=36, n_samples=90, seed=5)
    synthetic.write_segy(tmp / "n.sgy", spec, snr_db=5, missing=0.05)
    small_model(tmp / "m.keras", seed=3, depth=5, filters=8)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster) as c:
        convert.convert_segy(str(tmp / "n.sgy"), str(tmp / "n.zarr"), client=c, chunks=(2, 36, 90))
        denoise.denoise(str(tmp / "n.zarr"), str(tmp / "m.keras"), denoise.DenoiseSpec(tile=(20, 64)), client=c)
        for p in ("bfloat16", "float16"):
            denoise.denoise(str(tmp / "n.zarr"), str(tmp / "m.keras"),
                            denoise.DenoiseSpec(tile=(20, 64), precision=p, output=p), client=c)
    return str(tmp / "n.zarr")


def test_with_precision_keeps_float32_weights_and_digest():
    keras.utils.set_random_seed(1)
    m = dncnn.build_dncnn(depth=4, filters=8)
    h = dncnn.with_precision(m, "bfloat16")
    assert h.layers[1].dtype_policy.name == "mixed_bfloat16" and h.layers[1].compute_dtype == "bfloat16"
    assert all(w.dtype == np.float32 for w in h.get_weights())
    assert dncnn.digest(h) == dncnn.digest(m)
    assert dncnn.with_precision(m, "float32") is m
    with pytest.raises(ValueError):
        dncnn.with_precision(m, "int8")


@pytest.mark.parametrize("precision,low,high", [("bfloat16", 1e-4, 5e-2), ("float16", 1e-6, 5e-3)])
def test_half_precision_output_and_its_error_reported_by_qc(noisy, precision, low, high, tmp_path):
    root = zarr.open_group(noisy, mode="r")
    full, half = root["denoised"][:], root[precision][:]
    assert root[precision].attrs["seisbatch"]["params"]["precision"] == precision
    rel = np.sqrt(((half - full) ** 2).sum() / (full**2).sum())
    assert low < rel < high  # rounded, but close
    mask = root["trace_mask"][:]
    assert not half[~mask].any()
    r = qc.qc(noisy, output=precision, png=str(tmp_path / "q.png"))
    pc = r["precision_check"]  # measured without being asked, for a half-precision output
    assert pc["precision"] == precision
    # qc's float32 reference equals the float32 run's stored output (crop blending is exact), so its
    # error is the difference between the two outputs on the same window
    sec = 2  # the default figure section: the middle inline
    (a, b), (c, d) = pc["window"]
    assert (b - a, d - c) == (20, 64)
    e = half[sec, a:b, c:d] - full[sec, a:b, c:d]
    expected = np.sqrt((e**2).sum() / (full[sec, a:b, c:d] ** 2).sum())
    assert pc["rel_rms_error"] == pytest.approx(expected, rel=1e-3, abs=1e-6)
    assert pc["max_abs_error"] == pytest.approx(np.abs(e).max(), rel=1e-3, abs=1e-6)


def test_qc_precision_check_of_a_float32_output_is_exact(noisy, tmp_path, capsys):
    r = qc.qc(noisy, png=str(tmp_path / "q.png"))
    assert "precision_check" not in r  # float32 outputs are not checked unless asked
    assert main(["qc", noisy, "--precision-check", "--out", str(tmp_path / "q.png")]) == 0
    out = capsys.readouterr().out
    assert "float32 inference against float32" in out
    pc = qc.qc(noisy, png=str(tmp_path / "q.png"), check_precision=True)["precision_check"]
    assert pc["rel_rms_error"] < 1e-5 and pc["snr_vs_float32_db"] > 90
    assert main(["qc", noisy, "--array", "bfloat16", "--out", str(tmp_path / "q.png")]) == 0
    assert "bfloat16 inference against float32" in capsys.readouterr().out


def test_help_shows_the_defaults_in_effect():
    from seisbatch.cli import build_parser

    def denoise_help() -> str:
        sub = next(a for a in build_parser()._actions if a.dest == "command")
        return " ".join(sub.choices["denoise"].format_help().split())

    assert "tiles per model call (default 2;" in denoise_help() and "(default 512,1024)" in denoise_help()
    with dask.config.set({"seisbatch.denoise.batch-size": 16, "seisbatch.denoise.tile": [128, 256]}):
        assert "tiles per model call (default 16;" in denoise_help() and "(default 128,256)" in denoise_help()


def test_denoise_defaults_come_from_the_settings():
    spec = denoise.DenoiseSpec()
    assert spec.tile == (512, 1024) and spec.batch_size == 2 and spec.precision == "float32" and spec.halo is None
    with dask.config.set({"seisbatch.denoise.batch-size": 7, "seisbatch.denoise.tile": [64, 128],
                          "seisbatch.denoise.precision": "bfloat16"}):
        spec = denoise.DenoiseSpec(blend="taper")
        assert (spec.batch_size, spec.tile, spec.precision, spec.blend) == (7, (64, 128), "bfloat16", "taper")
    with dask.config.set({"seisbatch.convert.chunks-3d": [8, 8, 64], "seisbatch.workers": 3}):
        assert store.default_chunks(("inline", "crossline"), 50) == (8, 8, 50)
        assert store.default_chunks(("inline", "crossline"), 500) == (8, 8, 64)
        assert engine.default_workers() == 3
    assert store.default_chunks(("trace",), 2000) == (1024, 512)


def test_cli_takes_settings_and_options_override_them(noisy, tmp_path):
    import shutil

    s = str(tmp_path / "n.zarr")
    shutil.copytree(noisy, s)
    model = str(pathlib.Path(noisy).parent / "m.keras")
    with dask.config.set({"seisbatch.denoise.tile": [12, 40], "seisbatch.denoise.output": "fromcfg",
                          "seisbatch.denoise.blend": "taper"}):
        assert main(["denoise", s, "--model", model, "--workers", "1", "--blend", "crop", "--quiet"]) == 0
    params = zarr.open_group(s, mode="r")["fromcfg"].attrs["seisbatch"]["params"]
    assert params["tile"] == [12, 40] and params["blend"] == "crop"


def test_settings_from_yaml_files_and_environment_variables(tmp_path):
    (tmp_path / "site.yaml").write_text("seisbatch:\n  denoise:\n    blend: taper\n    tile: [256, 256]\n")
    env = dict(os.environ, DASK_CONFIG=str(tmp_path), DASK_SEISBATCH__RETRIES="5",
               DASK_SEISBATCH__DENOISE__BATCH_SIZE="16")
    out = subprocess.run([sys.executable, "-m", "seisbatch", "config", "--json"], env=env, capture_output=True,
                         text=True, check=True).stdout
    got = json.loads(out)
    assert got["retries"] == 5 and got["denoise"]["blend"] == "taper" and got["denoise"]["tile"] == [256, 256]
    assert got["denoise"].get("batch_size", got["denoise"].get("batch-size")) == 16
    assert got["denoise"]["precision"] == "float32"  # untouched settings keep the shipped defaults
    text = subprocess.run([sys.executable, "-m", "seisbatch", "config"], env=env, capture_output=True, text=True,
                          check=True).stdout
    assert str(tmp_path) in text and "blend: taper" in text


def _flaky(counter: str, fail_times: int) -> int:
    """Fails the first ``fail_times`` calls (counted in a file, across processes)."""
    n = int(pathlib.Path(counter).read_text() or 0) + 1 if os.path.exists(counter) else 1
    pathlib.Path(counter).write_text(str(n))
    if n <= fail_times:
        raise RuntimeError(f"attempt {n} fails")
    return n


def test_task_retries_are_bounded_and_configurable(client, tmp_path):
    counter = str(tmp_path / "a")
    with dask.config.set({"seisbatch.retries": 2}):
        assert engine.run_tasks(client, _flaky, [(counter, 2)]) == [3]  # failed twice, third attempt succeeds
    counter = str(tmp_path / "b")
    with dask.config.set({"seisbatch.retries": 1}):
        with pytest.raises(RuntimeError, match="attempt 2 fails"):
            engine.run_tasks(client, _flaky, [(counter, 2)])
    assert pathlib.Path(counter).read_text() == "2"  # bounded: not tried a third time
    assert config.get("retries") == 2


def _square_array(i: int, n: int) -> np.ndarray:
    return np.full(n, i * i, dtype=np.int64)


def test_results_in_input_order_or_handed_over_once_and_released(client):
    """run_tasks returns results in input order; with on_result each (index, result) arrives
    exactly once and is released at once, while the run goes on (a conversion's 100,000 statistics
    rows must not pile up in the workers' memory)."""
    args = [(i, 1000) for i in range(40)]
    assert [int(r[0]) for r in engine.run_tasks(client, _square_array, args)] == [i * i for i in range(40)]

    def held(dask_scheduler) -> int:
        return sum(str(k).startswith("_square_array") and ts.state == "memory" for k, ts in dask_scheduler.tasks.items())

    seen, held_at_end = [], []

    def take(i: int, r: np.ndarray) -> None:
        seen.append((i, int(r[0])))
        if len(seen) == len(args):  # every earlier result was handed over: none should still be held
            deadline = time.time() + 10
            while client.run_on_scheduler(held) > 1 and time.time() < deadline:
                time.sleep(0.05)
            held_at_end.append(client.run_on_scheduler(held))

    assert engine.run_tasks(client, _square_array, args, on_result=take) == [None] * 40
    assert sorted(seen) == [(i, i * i) for i in range(40)]
    assert held_at_end[0] <= 1
    assert engine.run_tasks(client, _square_array, []) == []


def test_each_worker_sees_only_its_own_gpu():
    env = {"CUDA_VISIBLE_DEVICES": "2,3,0,1"}  # what dask-cuda gives the worker of GPU 2
    assert devices.pin_own_gpu(env) == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == "2"
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert "expandable_segments" in env["PYTORCH_CUDA_ALLOC_CONF"]
    env = {"CUDA_VISIBLE_DEVICES": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "true"}
    assert devices.pin_own_gpu(env) == "1" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"  # the user's choice stays
    assert devices.pin_own_gpu({}) is None
    env = {"CUDA_VISIBLE_DEVICES": "0,1"}
    devices.hide_gpus(env)
    assert env["CUDA_VISIBLE_DEVICES"] == ""


# What TensorFlow 2.21 printed on this CPU machine while starting, one worker, verbatim but the times.
TF_START = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795603010.638116    6500 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results due to floating-point round-off errors from different computation orders. To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1795603010.638461    6500 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795603010.694518    6500 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1795603013.606266    6500 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_tensorflow_start_notices_are_dropped_and_everything_else_kept():
    assert devices.without_start_chatter(TF_START) == ""
    other = "W0000 00:00:1.0 1 op_kernel.cc:1] OP_REQUIRES failed: out of memory\nTraceback (most recent call last):\n"
    assert devices.without_start_chatter(TF_START + other) == other
    # a failed cuInit where a CUDA driver exists is a real problem (a broken GPU setup): it stays
    with_driver = "".join(line for line in TF_START.splitlines(keepends=True) if "cudart_stub" not in line)
    assert devices.without_start_chatter(with_driver) == with_driver.splitlines(keepends=True)[-1]


def _stderr_of(code: str, env: dict) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stderr


def test_quiet_start_filters_native_stderr_unless_tensorflow_logging_is_set():
    code = ("import os\nfrom seisbatch import devices\nwith devices.quiet_start():\n"
            f"    os.write(2, {TF_START.encode()!r})\n    os.write(2, b'genuine trouble\\n')\nprint('after')")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    assert _stderr_of(code, env) == "genuine trouble\n"
    assert _stderr_of(code, dict(env, TF_CPP_MIN_LOG_LEVEL="0")) == TF_START + "genuine trouble\n"
    # the real thing: TensorFlow started as a worker starts it (import, threads, devices) prints none of them
    env = dict(env, KERAS_BACKEND="tensorflow")
    err = _stderr_of("from seisbatch import devices\ndevices.start_backend(1)\nimport keras\nprint(keras.backend.backend())", env)
    assert "cuInit" not in err and not any(c in err for c in devices._START_CHATTER), err


def test_workers_are_pinned_by_the_model_plugin(noisy, tmp_path):
    from distributed import Client, LocalCluster

    import shutil

    s = str(tmp_path / "n.zarr")
    shutil.copytree(noisy, s)
    model = str(pathlib.Path(noisy).parent / "m.keras")
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0",
                      env={"CUDA_VISIBLE_DEVICES": "1,0"}) as cluster, Client(cluster) as c:
        denoise.denoise(s, model, denoise.DenoiseSpec(tile=(20, 64), output="pinned"), client=c)
        seen = list(c.run(lambda: (os.environ.get("CUDA_VISIBLE_DEVICES"),
                                   os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE"))).values())
    assert seen == [("1", "false")]


def test_local_workers_get_the_malloc_settings(client):
    """Dask's 64 KiB malloc trim threshold made every conversion block page-fault its buffers anew
    (41 -> 75 ms per block); seisbatch's local workers start with larger thresholds, overridable."""
    seen = set(client.run(lambda: (os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_"))).values())
    assert seen == {("134217728", "33554432")}
    with dask.config.set({"seisbatch.worker-environ.MALLOC_MMAP_THRESHOLD_": 1048576}):
        env = engine.worker_environ()
    assert env["MALLOC_MMAP_THRESHOLD_"] == "1048576" and env["MALLOC_TRIM_THRESHOLD_"] == "134217728"
    assert env["OMP_NUM_THREADS"] == "1"  # Dask's own pre-spawn variables are kept


def _malloc_env() -> tuple[str | None, str | None]:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), os.environ.get("MALLOC_MMAP_THRESHOLD_")


def test_a_plain_dask_cluster_started_earlier_does_not_cost_the_malloc_settings(monkeypatch):
    """Dask's nanny leaves its own 64 KiB trim threshold in the parent's environment, where it would
    outrank seisbatch's setting for every later cluster; a value the user set still wins."""
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(dask.config.get("distributed.nanny.pre-spawn-environ")["MALLOC_TRIM_THRESHOLD_"]))
    with engine.dask_client(workers=1) as c:
        assert list(c.run(_malloc_env).values()) == [("134217728", "33554432")]
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    with engine.dask_client(workers=1) as c:
        assert list(c.run(_malloc_env).values()) == [("1048576", "33554432")]
