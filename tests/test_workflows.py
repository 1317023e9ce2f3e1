"""The workflows in workflows/ run end to end at their small size, as a user would start them."""

from __future__ import annotations

import csv
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_paper_example_small(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "workflows" / "paper_example.py"), "--small", "--dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "$ seisbatch evaluate" in out.stdout and "SNR" in out.stdout
    for name in ("noise_dataset.h5", "dncnn.keras", "dncnn.history.csv", "dncnn.training-pairs.png", "dncnn.test-denoised.png"):
        assert (tmp_path / name).stat().st_size > 0
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "dncnn.history.csv"))]
    assert len(losses) == 3 and losses[-1] < losses[0]
    metrics = json.load(open(tmp_path / "dncnn.metrics.json"))
    assert metrics["held_out"]["patches"] == 96
    assert all(metrics["held_out"][k] > 0 for k in ("mse_before", "mse_after"))


def test_field_pipeline_on_a_real_file(tmp_path):
    src = ROOT / "tests" / "data" / "segysak_f3-withdead.sgy"
    cmd = [sys.executable, str(ROOT / "workflows" / "field_pipeline.py"), str(src), "--dir", str(tmp_path), "--workers", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "denoise: 31,050 samples" in out.stdout and "leakage" in out.stdout
    assert (tmp_path / "qc.png").stat().st_size > 0
    assert (tmp_path / "denoised.sgy").stat().st_size == src.stat().st_size
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "reusing the complete store" in again.stdout and "already complete" in again.stdout


def test_field_pipeline_adapts_then_denoises(tmp_path):
    src = ROOT / "tests" / "data" / "gundih_2D_Xline_12680.sgy"
    cmd = [sys.executable, str(ROOT / "workflows" / "field_pipeline.py"), str(src), "--dir", str(tmp_path), "--workers", "1",
           "--adapt", "--adapt-epochs", "1", "--adapt-patches", "16"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "adapt: 1 epochs of 16 patches" in out.stdout and "denoise: 974,350 samples" in out.stdout
    assert json.loads((tmp_path / "adapted.metrics.json").read_text())["params"]["store"].endswith("survey.zarr")
    assert (tmp_path / "denoised.sgy").stat().st_size == src.stat().st_size
