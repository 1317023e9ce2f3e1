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
