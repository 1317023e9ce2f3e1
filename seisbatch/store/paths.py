"""Where stores and outputs live: fsspec URLs, telling a store from another folder, and making
an output path free without ever removing what is not ours to remove."""

from __future__ import annotations

import os
import shutil

from ..errors import SeisbatchError


def is_url(path: str | os.PathLike) -> bool:
    """An fsspec URL (s3://bucket/survey.zarr, gs://..., memory://...) rather than a local path."""
    return "://" in os.fspath(path)


def url_fs(url: str):
    """(filesystem, path inside it) of an fsspec URL; credentials and endpoints come from the
    usual places (environment variables such as AWS_ENDPOINT_URL, ~/.aws, fsspec config)."""
    import fsspec

    return fsspec.core.url_to_fs(url)


def is_store(path: str) -> bool:
    """Whether a Zarr group is at ``path`` (local directory or URL)."""
    if is_url(path):
        fs, p = url_fs(path)
        return fs.exists(p.rstrip("/") + "/zarr.json")
    return os.path.isdir(path)


_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def is_zarr_dir(path: str) -> bool:
    """Whether the local directory ``path`` holds Zarr metadata at its top (v3, or v2)."""
    return any(os.path.isfile(os.path.join(path, m)) for m in _ZARR_MARKERS)


def prepare_output(path: str, overwrite: bool, inputs: tuple[str, ...] = (), kind: str = "file") -> None:
    """Refuse to clobber an existing output unless asked; never remove an input, nor anything
    that is not the kind of output asked for: with ``overwrite``, an existing Zarr store (or an
    empty directory) is removed for a new store (``kind="store"``), while a directory that is not
    a store, or a file where a store goes, is refused, so a mistyped path cannot wipe a folder. A
    file output (``kind="file"``) is not removed here: its writer replaces it only once the new
    file is complete (written beside it, then renamed), so a failed run leaves the old one whole."""
    if is_url(path):
        fs, p = url_fs(path)
        if fs.exists(p):
            if not overwrite:
                raise SeisbatchError(path, "output exists (use --overwrite to replace it)")
            if kind == "store":
                if not is_store(path):
                    raise SeisbatchError(path, "exists and is not a Zarr store: not replaced, even with --overwrite "
                                               "(remove it yourself or choose another path)")
                fs.rm(p, recursive=True)
        return
    real = os.path.realpath(path)
    if any(os.path.realpath(i) == real for i in inputs):
        raise SeisbatchError(path, "output is the same path as the input")
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise SeisbatchError(path, "output exists (use --overwrite to replace it)")
    if os.path.islink(path):
        if kind == "store":
            os.remove(path)  # the link only, never what it points to
        return
    if os.path.isdir(path):
        if kind == "file":
            raise SeisbatchError(path, "is a directory: give the path of the file to write")
        if os.listdir(path) and not is_zarr_dir(path):
            raise SeisbatchError(path, "is a directory that is not a Zarr store: not replaced, even with "
                                       "--overwrite (remove it yourself or choose another path)")
        shutil.rmtree(path)
    elif kind == "store":
        raise SeisbatchError(path, "is a file, not a Zarr store: not replaced, even with --overwrite "
                                   "(remove it yourself or choose another path)")


def check_folder(path: str) -> None:
    """The folder an output goes into must exist (a local path; object storage has no folders)."""
    if is_url(path):
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SeisbatchError(path, f"the folder {os.path.dirname(path) or folder} does not exist")
