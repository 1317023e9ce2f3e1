"""cluster/: the SLURM job script dask-jobqueue renders, the Kubernetes manifests, the GPU image,
and model tasks asking for the GPU resource where workers advertise it."""

from __future__ import annotations

import importlib.util
import pathlib
import tomllib

import dask.config
import pytest
import yaml
import zarr
from distributed import Client, LocalCluster

from conftest import small_model
from seisbatch import convert, denoise, engine, synthetic

CLUSTER = pathlib.Path(__file__).resolve().parents[1] / "cluster"
DATA = pathlib.Path(__file__).resolve().parent / "data"


def _launcher():
    spec = importlib.util.spec_from_file_location("slurm_launch", CLUSTER / "slurm" / "launch.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_slurm_job_script_asks_for_one_gpu_per_worker():
    pytest.importorskip("dask_jobqueue")  # in the test extra; the check below must run in CI
    launch = _launcher()
    cluster = launch.make_cluster()
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    lines = script.splitlines()
    assert lines[0].startswith("#!") and "#SBATCH --gres=gpu:1" in lines
    assert "#SBATCH -p gpu" in lines and "#SBATCH -t 04:00:00" in lines
    assert any(line.startswith("#SBATCH --mem=") for line in lines)
    worker = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert worker.startswith("$HOME/seisbatch-venv/bin/python -m distributed.cli.dask_worker")
    assert "--nworkers" not in worker  # processes: 1, a single worker per job and GPU
    assert "--resources GPU=1" in worker and "--nthreads 8" in worker
    assert "export TF_FORCE_GPU_ALLOW_GROWTH=true" in lines


def test_slurm_settings_yield_to_the_users_own_configuration():
    pytest.importorskip("dask_jobqueue")
    import dask.config

    with dask.config.set({"jobqueue.slurm.queue": "gpu-long"}):
        cluster = _launcher().make_cluster()
        try:
            assert "#SBATCH -p gpu-long" in cluster.job_script().splitlines()
        finally:
            cluster.close()


def test_kubernetes_manifest_has_a_gpu_worker_group():
    docs = list(yaml.safe_load_all((CLUSTER / "kubernetes" / "daskcluster.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"DaskCluster", "DaskWorkerGroup"}
    assert all(d["apiVersion"] == "kubernetes.dask.org/v1" for d in docs)
    dc, group = kinds["DaskCluster"], kinds["DaskWorkerGroup"]
    assert group["spec"]["cluster"] == dc["metadata"]["name"]
    sched = dc["spec"]["scheduler"]
    assert {p["port"] for p in sched["service"]["ports"]} == {8786, 8787}
    assert sched["service"]["selector"]["dask.org/cluster-name"] == dc["metadata"]["name"]
    gpu = group["spec"]["worker"]["spec"]["containers"][0]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["args"][:2] == ["dask", "worker"] and "GPU=1" in gpu["args"]
    cpu = dc["spec"]["worker"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]


def test_gpu_image_installs_the_gpu_extra():
    docker = (CLUSTER / "Dockerfile").read_text()
    assert docker.startswith("#") and "FROM nvidia/cuda:" in docker and 'pip install "/src[gpu]"' in docker
    extras = tomllib.loads((CLUSTER.parent / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("dask-cuda") for d in extras["gpu"])
    assert any(d.startswith("tensorflow[and-cuda]") for d in extras["gpu"])


def test_model_tasks_ask_for_the_gpu_resource_where_workers_advertise_it(tmp_path, monkeypatch):
    synthetic.write_segy(tmp_path / "s.sgy", synthetic.SurveySpec(n_inline=4, n_crossline=12, n_samples=30, seed=2))
    small_model(tmp_path / "m.keras", seed=0, depth=3, filters=4)
    seen = []
    real = engine.run_tasks

    def spy(*a, **kw):
        seen.append(kw.get("resources"))
        return real(*a, **kw)

    monkeypatch.setattr(engine, "run_tasks", spy)
    with LocalCluster(n_workers=1, threads_per_worker=2, resources={"GPU": 1}, dashboard_address=":0") as lc, Client(lc) as c:
        convert.convert_segy(str(tmp_path / "s.sgy"), str(tmp_path / "s.zarr"), client=c)
        denoise.denoise(str(tmp_path / "s.zarr"), str(tmp_path / "m.keras"), client=c)
    assert seen[-1] == {"GPU": 0.25} and seen[0] is None  # convert: I/O anywhere; denoise: four blocks per GPU
    assert zarr.open_group(str(tmp_path / "s.zarr"))["denoised"].attrs["seisbatch"]["complete"]
    with dask.config.set({"seisbatch.denoise.tasks-per-gpu": 1}):
        with LocalCluster(n_workers=1, threads_per_worker=2, resources={"GPU": 1}, dashboard_address=":0") as lc, \
                Client(lc) as c:
            denoise.denoise(str(tmp_path / "s.zarr"), str(tmp_path / "m.keras"), denoise.DenoiseSpec(output="one"), client=c)
    assert seen[-1] == {"GPU": 1}  # one block at a time per GPU


def test_gpu_option_without_a_gpu_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from seisbatch.cli import main

    monkeypatch.setattr(engine, "local_gpus", lambda: 0)
    z = str(tmp_path / "s.zarr")
    assert main(["convert", str(DATA / "segyio_f3.sgy"), z, "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["denoise", z, "--gpu", "--quiet"]) == 2
    assert "--gpu: no NVIDIA GPU found" in capsys.readouterr().err
