"""The command line: help for every command, info on stores and files, synth, and the demo."""

import argparse
import json
import re
import subprocess
import sys

import pytest

from seisbatch import cli, convert

COMMANDS = ["convert", "export", "info", "synth", "demo", "make-dataset", "train", "evaluate", "denoise", "qc", "config"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    parser = cli.build_parser()
    sub = next(a for a in parser._subparsers._group_actions[0].choices.items() if a[0] == command)[1]
    for action in sub._actions:
        if action.option_strings and action.dest != "help" and action.help != argparse.SUPPRESS:  # old spellings
            assert action.help, f"{command} {action.option_strings} has no help"
            assert action.option_strings[0] in text


@pytest.mark.parametrize("argv", [["qc", "s.zarr", "--arr", "x"], ["denoise", "s.zarr", "--over"],
                                  ["convert", "a.sgy", "b.zarr", "--work", "2"]])
def test_abbreviated_options_are_refused_not_guessed(argv, capsys):
    with pytest.raises(SystemExit) as exc:  # `qc --out x.png` once meant `--output x.png`: the array to check
        cli.main(argv)
    assert exc.value.code == 2
    assert f"unrecognized arguments: {' '.join(argv[2 if argv[0] != 'convert' else 3:])}" in capsys.readouterr().err


def test_info_on_a_store(data_dir, tmp_path, client, capsys):
    z = tmp_path / "f3.zarr"
    convert.convert_segy(data_dir / "segysak_f3-withdead.sgy", z, client=client)
    assert cli.main(["info", str(z)]) == 0
    out = capsys.readouterr().out
    assert "geometry:   3d" in out and "inline=23  crossline=18  sample=75" in out
    assert "239 live of 414" in out and "4-byte IBM float" in out
    assert "amplitude        float32  (23, 18, 75)  complete" in out
    assert cli.main(["info", str(z), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["arrays"]["amplitude"]["complete"] is True and d["stats"]["count"] == 239 * 75


def test_info_on_segy_files(data_dir, capsys):
    assert cli.main(["info", str(data_dir / "segyio_f3-lsb.sgy"), "--text-header"]) == 0
    out = capsys.readouterr().out
    assert "little-endian" in out and "2-byte signed integer" in out and "111..133" in out
    assert cli.main(["info", str(data_dir / "segyio_viking_small.segy")]) == 0
    out = capsys.readouterr().out
    assert "geometry:   shot" in out and "shot_point: 101..104 (byte 17)" in out and "channel:    1..120 (byte 13)" in out


def test_info_on_missing_path(tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "nothing.zarr")]) == 2
    assert "no such file or store" in capsys.readouterr().err


def test_inputs_convert_cannot_read_are_one_line_before_any_cluster(data_dir, tmp_path, client, capsys):
    """info and convert open inputs the same way (sources.open_source), so they refuse alike."""
    z, folder = tmp_path / "s.zarr", tmp_path / "folder"
    convert.convert_segy(data_dir / "segyio_viking_small.segy", z, client=client)
    folder.mkdir()
    for argv, said in ((["convert", str(z), str(tmp_path / "t.zarr")], "already a seisbatch store"),
                       (["convert", str(folder), str(tmp_path / "t.zarr")], "neither a Zarr store nor an MDIO store"),
                       (["info", str(data_dir / "segyio_viking_small.segy"), "--inline-byte", "300"],
                        "--inline-byte must lie in 1..237")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, (argv, err)
    assert not (tmp_path / "t.zarr").exists()


def test_synth_convert_export_through_the_console_script(tmp_path):
    exe = [sys.executable, "-m", "seisbatch.cli"]
    sgy, z, back = tmp_path / "s.sgy", tmp_path / "s.zarr", tmp_path / "b.sgy"
    steps = [
        ["synth", str(sgy), "--inlines", "9", "--crosslines", "8", "--samples", "50", "--snr", "6", "--format", "1"],
        ["convert", str(sgy), str(z), "--workers", "1"],
        ["export", str(z), str(back), "--workers", "1"],
    ]
    outputs = []
    for step in steps:
        r = subprocess.run(exe + step, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        outputs.append(r.stdout)
    assert "3d survey 9 x 8 x 50, 72 traces" in outputs[1]
    info = subprocess.run(exe + ["info", str(z)], capture_output=True, text=True)
    assert "inline=9  crossline=8  sample=50" in info.stdout and "state:      complete" in info.stdout
    assert sgy.read_bytes() == back.read_bytes()


def test_demo_runs_end_to_end(tmp_path):
    r = subprocess.run([sys.executable, "-m", "seisbatch.cli", "demo", "--dir", str(tmp_path), "--workers", "2", "--quiet",
                        "--adapt", "--adapt-patches", "32"], capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, r.stderr
    snr = re.search(r"SNR against the noise-free truth: ([-\d.]+) dB -> ([-\d.]+) dB", r.stdout)
    assert snr and 4 < float(snr.group(1)) < 6 and float(snr.group(2)) > float(snr.group(1)) + 3
    adapted = re.search(r"adapted model .*: SNR ([-\d.]+) dB -> ([-\d.]+) dB", r.stdout)
    assert adapted and float(adapted.group(2)) > float(adapted.group(1)) + 3
    for name in ("qc.png", "qc-adapted.png", "adapted.keras", "survey_denoised.sgy"):
        assert (tmp_path / name).stat().st_size > 0
    assert (tmp_path / "survey_denoised.sgy").stat().st_size == (tmp_path / "survey_noisy.sgy").stat().st_size


def test_counts_are_said_in_the_singular_for_one(data_dir, tmp_path, capsys):
    z = tmp_path / "f3.zarr"
    assert cli.main(["convert", str(data_dir / "segysak_f3-withdead.sgy"), str(z), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "239 traces in 1 block;" in out, out


def test_a_closed_pipe_ends_quietly(data_dir):
    """`seisbatch info X | head -1`: the reader is gone before anything is written."""
    proc = subprocess.Popen([sys.executable, "-m", "seisbatch", "info", str(data_dir / "gundih_2D_Xline_12680.sgy"),
                             "--text-header"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `head` does once it has its line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and err == ""


def test_a_file_where_a_store_belongs_and_a_missing_folder_are_said_plainly(data_dir, tmp_path, capsys):
    sgy = str(data_dir / "gundih_2D_Xline_12680.sgy")
    assert cli.main(["denoise", sgy, "--quiet"]) == 2
    assert f"a file, not a seisbatch store: convert it first, e.g. `seisbatch convert {sgy} gundih_2D_Xline_12680.zarr`" \
        in capsys.readouterr().err
    assert cli.main(["convert", sgy, str(tmp_path / "nodir" / "x.zarr"), "--quiet"]) == 2
    assert f"the folder {tmp_path / 'nodir'} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "nodir").exists()


def test_an_installed_package_holds_every_subpackage():
    """`pip install .` (not only an editable install) must ship cli/, sources/, store/ and models/."""
    import pathlib
    import tomllib

    import setuptools

    root = pathlib.Path(__file__).resolve().parents[1]
    find = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    shipped = set(setuptools.find_packages(where=str(root), include=find["include"]))
    on_disk = {".".join(p.parent.relative_to(root).parts) for p in (root / "seisbatch").rglob("__init__.py")}
    assert {"seisbatch.cli", "seisbatch.sources", "seisbatch.store"} <= on_disk <= shipped


def test_options_follow_one_scheme_and_old_spellings_still_work_with_a_note(tmp_path, capsys):
    """Positional arguments are the files and stores read and written, --array an array inside a
    store, --out another file a command writes; `denoise --output`, `qc --output` and `qc --png`
    still work and say their new spelling."""
    parser = cli.build_parser()
    for command, old, new, dest in (("denoise", "--output", "--array", "output"), ("qc", "--output", "--array", "output"),
                                    ("qc", "--png", "--out", "png")):
        args = parser.parse_args([command, "s.zarr", old, "x"])
        assert getattr(args, dest) == "x" and getattr(parser.parse_args([command, "s.zarr", new, "x"]), dest) == "x"
        assert f"{old} is now {new}" in capsys.readouterr().err
    for command in ("export", "denoise", "qc"):
        opts = {o for a in parser._subparsers._group_actions[0].choices[command]._actions for o in a.option_strings}
        assert "--array" in opts, command
    for command in ("train", "adapt", "qc"):
        opts = {o for a in parser._subparsers._group_actions[0].choices[command]._actions for o in a.option_strings}
        assert "--out" in opts, command
