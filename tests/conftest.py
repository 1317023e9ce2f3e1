"""Shared fixtures: one local Dask cluster for the session (worker processes, as in production),
the real SEG-Y fixtures, and small generated surveys."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from seisbatch import engine, synthetic

DATA = pathlib.Path(__file__).parent / "data"
REAL_FILES = sorted(p for p in DATA.rglob("*") if p.suffix in (".sgy", ".segy"))


@pytest.fixture(scope="session")
def client():
    with engine.dask_client(workers=2) as c:
        yield c


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    return DATA


def sha256(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def small_model(path, seed: int = 0, depth: int = 4, filters: int = 8) -> str:
    """A seeded, untrained DnCNN saved at ``path``: fast, and reproducible for exactness tests."""
    import keras

    from seisbatch import model as dncnn

    keras.utils.set_random_seed(seed)
    dncnn.save(dncnn.build_dncnn(depth=depth, filters=filters), path)
    return str(path)


@pytest.fixture
def small_spec() -> synthetic.SurveySpec:
    return synthetic.SurveySpec(n_inline=11, n_crossline=13, n_samples=97, seed=3)
