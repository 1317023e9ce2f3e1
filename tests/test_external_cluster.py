"""An existing cluster started with Dask's own CLI (`dask scheduler`, `dask worker`) on loopback:
convert and denoise run through it by scheduler file and by address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import zarr
from distributed import Client

from conftest import small_model
from seisbatch import synthetic
from seisbatch.cli import main

BIN = os.path.dirname(sys.executable)


@pytest.fixture
def dask_cli_cluster(tmp_path):
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([os.path.join(BIN, "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", ":0", "--scheduler-file", str(sched_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)]
    try:
        deadline = time.time() + 60
        while not sched_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        for _ in range(2):
            procs.append(subprocess.Popen([os.path.join(BIN, "dask"), "worker", "--scheduler-file", str(sched_file),
                                           "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp_path)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path))
        with Client(scheduler_file=str(sched_file)) as c:
            c.wait_for_workers(2, timeout=60)
        yield str(sched_file), json.loads(sched_file.read_text())["address"]
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_convert_and_denoise_through_a_dask_cli_cluster(tmp_path, dask_cli_cluster, capsys):
    sched_file, address = dask_cli_cluster
    sgy, store = tmp_path / "s.sgy", str(tmp_path / "s.zarr")
    synthetic.write_segy(sgy, synthetic.SurveySpec(n_inline=10, n_crossline=20, n_samples=50, seed=1), snr_db=5)
    small_model(tmp_path / "m.keras", seed=0, depth=4, filters=8)
    assert main(["convert", str(sgy), store, "--chunks", "4,20,50", "--quiet", "--scheduler", sched_file]) == 0
    assert main(["denoise", store, "--model", str(tmp_path / "m.keras"), "--quiet", "--scheduler", address]) == 0
    out = capsys.readouterr().out
    assert "3 blocks (3 computed)" in out and "on 2 workers" in out
    root = zarr.open_group(store, mode="r")
    assert root["denoised"].attrs["seisbatch"]["complete"]
    assert np.abs(root["denoised"][:]).max() > 0


def test_a_tls_cluster_runs_convert_and_denoise_with_dask_s_certificates_and_refuses_a_client_without(
        tmp_path, capsys):
    """Scheduler and worker on loopback with generated certificates (TLS only); the CLI connects by
    `--scheduler tls://…` with the certificates from Dask's settings. Without them, or with a
    certificate of another authority, it is refused in one line."""
    import dask.config
    from distributed import LocalCluster
    from distributed.security import Security

    def pem_files(sec: Security, folder) -> dict[str, str]:
        folder.mkdir()
        names = {"ca-file": "tls_ca_file", "client.cert": "tls_client_cert", "client.key": "tls_client_key"}
        out = {}
        for key, attr in names.items():
            path = folder / f"{attr}.pem"
            path.write_text(getattr(sec, attr))
            out[f"distributed.comm.tls.{key}"] = str(path)
        return out

    sec = Security.temporary()
    sgy, z = tmp_path / "s.sgy", str(tmp_path / "s.zarr")
    synthetic.write_segy(sgy, synthetic.SurveySpec(n_inline=8, n_crossline=10, n_samples=64, seed=2), snr_db=5)
    small_model(tmp_path / "m.keras", seed=1, depth=3, filters=4)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, security=sec, protocol="tls://",
                      host="127.0.0.1", dashboard_address=None) as lc:
        address = lc.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with dask.config.set(pem_files(sec, tmp_path / "good")):
            assert main(["convert", str(sgy), z, "--quiet", "--scheduler", address]) == 0
            assert main(["denoise", z, "--model", str(tmp_path / "m.keras"), "--quiet", "--scheduler", address]) == 0
        assert zarr.open_group(z, mode="r")["denoised"].attrs["seisbatch"]["complete"]
        capsys.readouterr()
        assert main(["denoise", z, "--array", "again", "--quiet", "--scheduler", address]) == 2  # no certificate
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "a TLS scheduler: give this client its certificates" in err
        with dask.config.set(pem_files(Security.temporary(), tmp_path / "other")):  # another authority
            assert main(["denoise", z, "--array", "again", "--quiet", "--scheduler", address]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cannot connect to the scheduler" in err
        assert "again" not in zarr.open_group(z, mode="r")
