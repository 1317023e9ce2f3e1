"""Object storage: convert, info, denoise, qc and export against an S3-compatible store through
fsspec URLs (s3://bucket/survey.zarr), served on loopback by moto's server mode; and the lease
lock that stands in for flock there."""

from __future__ import annotations

import json
import os
import socket
import time

import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

from conftest import sha256, small_model
from seisbatch import convert, denoise, export, info, locking, qc, store, synthetic
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on a free loopback port, a bucket, and a Dask cluster whose workers see it."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # before the cluster starts, so its workers inherit it
    try:
        fs, _ = store.url_fs("s3://seisbatch-test")
        fs.mkdir("seisbatch-test")
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as c:
            yield c, fs
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_convert_denoise_qc_export_through_s3(s3, tmp_path, monkeypatch, capsys):
    client, fs = s3
    spec = synthetic.SurveySpec(n_inline=6, n_crossline=20, n_samples=60, seed=2)
    synthetic.write_segy(tmp_path / "s.sgy", spec, snr_db=5, missing=0.05)
    src = str(tmp_path / "s.sgy")
    before = sha256(src)
    small_model(tmp_path / "m.keras", seed=0, depth=4, filters=8)
    url = "s3://seisbatch-test/survey.zarr"
    convert.convert_segy(src, url, client=client, chunks=(2, 20, 60))
    assert fs.exists("seisbatch-test/survey.zarr/amplitude/zarr.json")
    assert not fs.exists("seisbatch-test/.survey.zarr.lock")  # released
    d = info.describe(url)
    assert d["state"] == "complete" and d["geometry"]["kind"] == "3d"
    denoise.denoise(url, str(tmp_path / "m.keras"), denoise.DenoiseSpec(tile=(12, 40)), client=client)
    # the same survey converted and denoised locally gives the same arrays
    local = str(tmp_path / "local.zarr")
    convert.convert_segy(src, local, client=client, chunks=(2, 20, 60))
    denoise.denoise(local, str(tmp_path / "m.keras"), denoise.DenoiseSpec(tile=(12, 40)), client=client)
    remote, ref = zarr.open_group(url, mode="r"), zarr.open_group(local, mode="r")
    for name in ("amplitude", "file/raw_headers", "trace_mask", "denoised"):
        np.testing.assert_array_equal(remote[name][:], ref[name][:], err_msg=name)
    assert remote["denoised"].attrs["seisbatch"]["complete"]
    export.export_segy(url, str(tmp_path / "back.sgy"), client=client)
    assert sha256(str(tmp_path / "back.sgy")) == before == sha256(src)
    monkeypatch.chdir(tmp_path)
    r = qc.qc(url)
    assert r["png"] == os.path.join(str(tmp_path), "survey.qc-denoised.png") and os.path.exists(r["png"])
    assert main(["convert", src, url, "--quiet"]) == 2  # exists, refused as for a local store
    assert "output exists" in capsys.readouterr().err
    with pytest.raises(SeisbatchError, match="no such store"):
        store.open_root("s3://seisbatch-test/missing.zarr")


def test_lease_lock_on_an_object_store(s3):
    _, fs = s3
    url = "s3://seisbatch-test/leased.zarr"
    where = "seisbatch-test/.leased.zarr.lock"
    with locking.store_lock(url, "seisbatch denoise (first)"):
        held = json.loads(fs.cat_file(where))
        assert held["pid"] == os.getpid() and held["expires"] > time.time()
        with pytest.raises(SeisbatchError, match=r"in use by seisbatch run .*\(seisbatch denoise \(first\)\)"):
            with locking.store_lock(url):
                pass
    assert not fs.exists(where)
    # a crashed holder's lease expires: it never blocks forever
    fs.pipe_file(where, json.dumps({"pid": 1, "host": "gone", "expires": time.time() - 1}).encode())
    with locking.store_lock(url):
        assert json.loads(fs.cat_file(where))["pid"] == os.getpid()
