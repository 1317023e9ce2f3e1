"""Reliability: a worker killed mid-run, the client killed mid-run (SIGKILL), concurrent runs on one
store, non-finite samples, a full disk and a read-only output. Each run either completes with the
output of an undisturbed run or stops with a clear message, leaving its input untouched and
nothing that looks complete."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import zarr
from distributed import Client, LocalCluster

from conftest import sha256, small_model
from seisbatch import convert, denoise, engine, locking, store, synthetic
from seisbatch import model as dncnn
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError

BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A noisy survey of many small blocks, its store, a small model and the undisturbed outputs."""
    tmp = tmp_path_factory.mktemp("rel")
    spec = synthetic.SurveySpec(n_inline=24, n_crossline=40, n_samples=160, seed=11)
    synthetic.write_segy(tmp / "s.sgy", spec, snr_db=5, missing=0.03)
    small_model(tmp / "m.keras", seed=2, depth=6, filters=16)
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as c:
        convert.convert_segy(str(tmp / "s.sgy"), str(tmp / "ref.zarr"), client=c, chunks=(1, 40, 160))
        denoise.denoise(str(tmp / "ref.zarr"), str(tmp / "m.keras"), denoise.DenoiseSpec(tile=(40, 160)), client=c)
    return tmp


def _same_store(a: str, b: str, arrays=("amplitude", "file/raw_headers", "trace_mask")) -> None:
    ra, rb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    for name in arrays:
        np.testing.assert_array_equal(ra[name][:], rb[name][:], err_msg=name)
    assert ra.attrs["seisbatch"]["stats"] == rb.attrs["seisbatch"]["stats"]


def _fresh_store(base, tmp_path) -> str:
    """A copy of the converted store without the denoised output."""
    s = str(tmp_path / "s.zarr")
    shutil.copytree(base / "ref.zarr", s, ignore=shutil.ignore_patterns("denoised", store.GROUP))
    store.consolidate(s)  # the copied consolidated metadata still lists the arrays left out
    assert "denoised" not in zarr.open_group(s, mode="r")
    return s


def _killer(client: Client, after: int):
    """A progress callback that SIGKILLs one worker process once ``after`` tasks have finished."""
    state = {"killed": None}

    def progress(done: int, total: int) -> None:
        if done >= after and state["killed"] is None:
            pids = client.run(os.getpid)
            addr, pid = sorted(pids.items())[0]
            os.kill(pid, signal.SIGKILL)
            state["killed"] = addr

    return progress, state


# ------------------------------------------------------------------ worker loss


def test_worker_killed_during_denoise_the_run_completes_equal(base, tmp_path):
    s = _fresh_store(base, tmp_path)
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as c:
        progress, state = _killer(c, after=3)
        r = denoise.denoise(s, str(base / "m.keras"), denoise.DenoiseSpec(tile=(40, 160)), client=c, progress=progress)
    assert state["killed"] is not None and r["computed"] == r["tasks"] == 24
    out, ref = zarr.open_group(s, mode="r"), zarr.open_group(str(base / "ref.zarr"), mode="r")
    np.testing.assert_array_equal(out["denoised"][:], ref["denoised"][:])
    assert out["denoised"].attrs["seisbatch"]["complete"] and store.done_mask(s, "denoised") is None  # cleared


def test_worker_killed_during_convert_the_run_completes_equal(base, tmp_path):
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as c:
        progress, state = _killer(c, after=3)
        convert.convert_segy(str(base / "s.sgy"), str(tmp_path / "k.zarr"), client=c, chunks=(1, 40, 160),
                             progress=progress)
    assert state["killed"] is not None
    _same_store(str(tmp_path / "k.zarr"), str(base / "ref.zarr"))


# ------------------------------------------------------------------ client loss


def _kill_when(proc: subprocess.Popen, ready, timeout: float = 120) -> None:
    """SIGKILL the command (and then its local cluster) as soon as ``ready()`` holds."""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the command ended (rc {proc.returncode}) before it could be killed midway")
            try:
                if ready():
                    break
            except Exception:  # the store is being created
                pass
            time.sleep(0.02)
        else:
            raise AssertionError("the command made no progress")
        os.kill(proc.pid, signal.SIGKILL)  # the client dies first, as when its machine goes away
        proc.wait()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # then whatever it had started
        except ProcessLookupError:
            pass


def test_denoise_killed_with_sigkill_resumes_with_only_the_missing_blocks(base, tmp_path, capsys):
    s = _fresh_store(base, tmp_path)
    cmd = [os.path.join(BIN, "seisbatch"), "denoise", s, "--model", str(base / "m.keras"), "--tile", "40,160",
           "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def some_done():
        flags = store.done_mask(s, "denoised")
        return 0 < flags.sum() < len(flags) - 4

    _kill_when(proc, some_done)
    flags = store.done_mask(s, "denoised")
    assert not flags.all() and not zarr.open_group(s, mode="r")["denoised"].attrs["seisbatch"]["complete"]
    assert main(cmd[1:]) == 0
    out = capsys.readouterr().out
    done_before = int(flags.sum())
    assert f"({24 - done_before} computed, {done_before} already done by an earlier run)" in out
    ref = zarr.open_group(str(base / "ref.zarr"), mode="r")["denoised"][:]
    np.testing.assert_array_equal(zarr.open_group(s, mode="r")["denoised"][:], ref)


def test_convert_killed_with_sigkill_is_never_complete_and_resumes(base, tmp_path):
    src = str(tmp_path / "big.sgy")
    synthetic.write_segy(src, synthetic.SurveySpec(n_inline=120, n_crossline=40, n_samples=100, seed=3))
    before = sha256(src)
    out = str(tmp_path / "big.zarr")
    cmd = [os.path.join(BIN, "seisbatch"), "convert", src, out, "--chunks", "1,8,100", "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def some_done():
        rows = store.read_blocks(out, store.CONVERSION)
        return 0 < sum(r is not None for r in rows) < len(rows) - 50

    _kill_when(proc, some_done)
    with pytest.raises(SeisbatchError, match="incomplete"):
        store.open_complete(out)  # a half-converted store is never taken for complete
    done_before = sum(r is not None for r in store.read_blocks(out, store.CONVERSION))
    assert main(cmd[1:]) == 0
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as lc, Client(lc) as c:
        convert.convert_segy(src, str(tmp_path / "fresh.zarr"), client=c, chunks=(1, 8, 100))
    _same_store(out, str(tmp_path / "fresh.zarr"))
    assert 0 < done_before and sha256(src) == before

def test_ctrl_c_is_one_line_leaves_no_process_and_the_run_resumes(tmp_path):
    """SIGINT to the whole foreground group, as a terminal's Ctrl-C: the client says one line, the
    worker processes print nothing and are gone, and the same command again finishes the store."""
    import psutil

    src = str(tmp_path / "big.sgy")
    synthetic.write_segy(src, synthetic.SurveySpec(n_inline=120, n_crossline=40, n_samples=100, seed=3))
    out = str(tmp_path / "big.zarr")
    cmd = [os.path.join(BIN, "seisbatch"), "convert", src, out, "--chunks", "1,8,100", "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            rows = store.read_blocks(out, store.CONVERSION)
            if rows and 0 < sum(r is not None for r in rows) < len(rows) - 100:
                break
        except Exception:  # the store is being created
            pass
        assert proc.poll() is None, "the conversion ended before it could be interrupted"
        time.sleep(0.02)
    workers = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 130 and len(lines) == 1 and lines[0].startswith("seisbatch: interrupted"), lines
    time.sleep(1)
    # none still running (multiprocessing's resource tracker exits with the client; reaping an exited
    # orphan is init's job, which this sandbox's init does slowly)
    assert workers and not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    with pytest.raises(SeisbatchError, match="incomplete"):
        store.open_complete(out)
    assert main(cmd[1:]) == 0
    store.open_complete(out)


def test_export_killed_with_sigkill_resumes_with_only_the_missing_blocks(tmp_path, capsys):
    """The output file stays OUT.partial until complete; the same command again writes only the
    blocks not yet marked done, and the file equals the input byte for byte."""
    src = str(tmp_path / "long.sgy")
    synthetic.write_segy(src, synthetic.SurveySpec(n_inline=300, n_crossline=40, n_samples=100, seed=5))
    z, out = str(tmp_path / "long.zarr"), str(tmp_path / "back.sgy")
    with engine.dask_client(workers=1, processes=False) as c:
        convert.convert_segy(src, z, client=c, chunks=(1, 40, 100))  # one export block per inline
    cmd = [os.path.join(BIN, "seisbatch"), "export", z, out, "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def some_done():
        flags = store.done_mask(out + ".partial.progress", "export")
        return 0 < flags.sum() < len(flags) - 100

    _kill_when(proc, some_done)
    assert not os.path.exists(out) and os.path.exists(out + ".partial")
    done_before = int(store.done_mask(out + ".partial.progress", "export").sum())
    assert main(cmd[1:]) == 0
    said = capsys.readouterr().out
    assert f"({done_before} of 300 blocks written by an earlier run)" in said
    assert sha256(out) == sha256(src)
    assert not os.path.exists(out + ".partial") and not os.path.exists(out + ".partial.progress")



# ------------------------------------------------------------------ concurrent runs


def test_a_second_run_on_the_same_store_is_refused_and_a_crashed_holder_does_not_block(base, tmp_path, capsys):
    s = _fresh_store(base, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom seisbatch import locking\n"
         "with locking.store_lock(sys.argv[1], 'seisbatch denoise (test holder)'):\n"
         "    print('held', flush=True)\n    time.sleep(120)\n", s],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["denoise", s, "--model", str(base / "m.keras"), "--tile", "40,160", "--workers", "1", "--quiet"]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert f"in use by seisbatch run pid {holder.pid}" in err and "test holder" in err
        assert "denoised" not in zarr.open_group(s, mode="r")  # nothing was started
        assert main(["convert", str(base / "s.sgy"), s, "--overwrite", "--quiet"]) == 2  # nor replaced
        assert "in use by" in capsys.readouterr().err
        with pytest.raises(SeisbatchError, match="in use"):
            with locking.store_lock(s):
                pass
    finally:
        holder.kill()  # SIGKILL: the holder crashes without releasing anything
        holder.wait()
    with locking.store_lock(s) as path:  # the kernel released its lock: no waiting, no manual cleanup
        assert os.path.exists(path)
    assert not os.path.exists(locking.lock_path(s))  # a normal release removes the file


# ------------------------------------------------------------------ non-finite samples


def test_non_finite_samples_are_counted_and_do_not_spread(tmp_path, client):
    rng = np.random.default_rng(0)
    vol = rng.standard_normal((4, 30, 80)).astype(np.float32)
    bad = [(1, 10, 40), (2, 3, 5), (3, 29, 79)]
    for (i, j, k), v in zip(bad, (np.nan, np.inf, -np.inf)):
        vol[i, j, k] = v
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["data"] = vol
    s = str(tmp_path / "v.zarr")
    convert.convert_hdf5(str(tmp_path / "v.h5"), s, client=client)
    meta = store.meta(zarr.open_group(s, mode="r"))
    assert meta["stats"]["nonfinite"] == 3 and np.isfinite(meta["stats"]["rms"])  # statistics skip them
    small_model(tmp_path / "m.keras")
    denoise.denoise(s, str(tmp_path / "m.keras"), client=client)
    out = zarr.open_group(s, mode="r")["denoised"][:]
    assert np.isfinite(out).all()
    for i, j, k in bad:
        assert out[i, j, k] == 0.0
    # elsewhere the output is that of the same survey with 0 in place of the bad samples
    clean = np.nan_to_num(vol, nan=0.0, posinf=0.0, neginf=0.0)
    scale = np.float32(1.0 / meta["stats"]["abs_p99"])
    ref = dncnn.predict(dncnn.load(tmp_path / "m.keras"), clean * scale) / scale
    for i, j, k in bad:
        ref[i, j, k] = 0.0
    np.testing.assert_allclose(out, ref, atol=3e-5 * np.abs(ref).max())


# ------------------------------------------------------------------ full disk, read-only output


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs (needs root, as on the project's machines and CI)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_is_a_clear_error_and_a_rerun_after_freeing_space_completes(base, small_fs, capsys):
    src = str(base / "s.sgy")
    before = sha256(src)
    out = str(small_fs / "s.zarr")
    pages = [-(-os.path.getsize(os.path.join(d, f)) // 4096) for d, _, fs in os.walk(base / "ref.zarr") for f in fs
             if "denoised" not in d]
    half = sum(pages) * 4096 // 2  # room for half of the store as tmpfs counts it (whole pages per file)
    subprocess.run(["mount", "-o", f"remount,size={half}", str(small_fs)], check=True)
    args = ["convert", src, out, "--chunks", "1,40,160", "--workers", "1", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "run the same command again" in err and "Traceback" not in err
    with pytest.raises(SeisbatchError, match="incomplete"):
        store.open_complete(out)
    assert sha256(src) == before
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], check=True)  # the cause is fixed
    assert main(args) == 0
    _same_store(out, str(base / "ref.zarr"))


def test_read_only_output_is_a_clear_error_and_the_input_untouched(base, small_fs, capsys):
    src = str(base / "s.sgy")
    before = sha256(src)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    out = str(small_fs / "s.zarr")
    assert main(["convert", src, out, "--workers", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert out in err and "Read-only file system" in err and "Traceback" not in err
    assert not os.path.exists(out) and sha256(src) == before
    subprocess.run(["mount", "-o", "remount,rw,size=64m", str(small_fs)], check=True)
    assert main(["convert", src, out, "--workers", "1", "--quiet", "--chunks", "1,40,160"]) == 0
    _same_store(out, str(base / "ref.zarr"))


def test_a_torn_block_log_row_counts_as_not_done(tmp_path):
    """A process killed while writing a row leaves a damaged chunk: that block is redone, the others kept."""
    path = str(tmp_path / "log.zarr")
    zarr.open_group(path, mode="w")
    store.start_blocks(path, "job", 4, 3)
    for i in (0, 1, 3):
        store.mark_done(path, "job", i, np.array([1.0, 2.0, float(i)]))
    chunk = tmp_path / "log.zarr" / store.GROUP / "job" / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:5])  # torn
    rows = store.read_blocks(path, "job")
    assert rows[1] is None and rows[2] is None
    np.testing.assert_array_equal(rows[3], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(rows[0], [1.0, 2.0, 0.0])


def _listening() -> list:
    import psutil

    procs = [psutil.Process(), *psutil.Process().children(recursive=True)]
    return [c.laddr for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def test_the_embedded_cluster_listens_on_loopback_only():
    """Scheduler, workers, nannies and the dashboard: nothing reachable from another machine."""
    with engine.dask_client(workers=1) as client:
        assert client.dashboard_link.startswith("http://127.0.0.1:")
        listening = _listening()
    assert len(listening) >= 4 and {a.ip for a in listening} == {"127.0.0.1"}, listening


def test_the_dashboard_opens_to_the_network_only_when_the_setting_says_so():
    import dask.config

    with dask.config.set({"seisbatch.dashboard-address": ":0"}), engine.dask_client(workers=1):
        listening = _listening()
    everywhere = [a for a in listening if a.ip in ("0.0.0.0", "::")]
    assert len(everywhere) >= 1 and all(a.ip == "127.0.0.1" for a in listening if a not in everywhere), listening
