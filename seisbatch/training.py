"""Training and evaluation of the DnCNN on a patch dataset (the paper's recipe by default).

RMSprop, MSE, batch 32, 50 epochs, shuffled, the last ``n_test`` patches held out. Batches are
read from the HDF5 file as they are needed, so a dataset larger than memory trains. A checkpoint
(model + optimizer state) is written after every epoch and ``resume`` continues from it.
Outputs sit beside the model: ``STEM.history.csv``, ``STEM.metrics.json``, ``STEM.loss.png``,
``STEM.training-pairs.png``, ``STEM.test-denoised.png``, ``STEM.checkpoint.keras``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict

import h5py
import keras
import numpy as np

from . import model as dncnn
from . import geometry, plots
from .errors import SeisbatchError
from .specs import TrainSpec  # noqa: F401 (part of this module's API)
from .metrics import SnrAccumulator


def open_dataset(path: str) -> tuple[h5py.File, int, int]:
    """Open a /X, /Y patch file; returns (file, n_patches, n_test) with a clear error if malformed."""
    if not os.path.isfile(path):
        raise SeisbatchError(path, "dataset not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SeisbatchError(path, "not an HDF5 file") from exc
    for name in ("X", "Y"):
        if name not in f:
            f.close()
            raise SeisbatchError(path, f"no /{name} dataset (expected /X noisy and /Y clean patches)")
    x, y = f["X"], f["Y"]
    if x.shape != y.shape or x.ndim != 4 or x.shape[-1] != 1:
        f.close()
        raise SeisbatchError(path, f"/X {x.shape} and /Y {y.shape} must both be (N, h, w, 1)")
    return f, x.shape[0], int(f.attrs.get("n_test", 1000))


class PatchBatches(keras.utils.PyDataset):
    """Batches of (noisy, clean) read from HDF5 by index; reshuffled each epoch from (seed, epoch).
    With ``prefetch``, a thread reads the next batches of the epoch while the model trains on this
    one: the same batches in the same order, only sooner."""

    def __init__(self, path: str, stop: int, batch_size: int, shuffle: bool, seed: int, limit: int | None = None,
                 prefetch: int = 0):
        super().__init__()
        self.path, self.stop, self.batch_size, self.shuffle, self.seed = path, stop, batch_size, shuffle, seed
        self.limit, self.prefetch = limit, prefetch
        self._file: h5py.File | None = None
        self._ahead: dict = {}
        self._pool = None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        idx = np.arange(self.stop)
        self.order = np.random.default_rng([self.seed, epoch]).permutation(idx) if self.shuffle else idx
        for f in self._ahead.values():
            f.cancel()
        self._ahead = {}  # read for the previous order: dropped

    def __len__(self) -> int:
        n = int(np.ceil(self.stop / self.batch_size))
        return min(n, self.limit) if self.limit else n

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        ahead = self._ahead.pop(i, None)
        batch = ahead.result() if ahead is not None else self._read(self.order, i)
        if self.prefetch:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(1, thread_name_prefix="seisbatch-prefetch")
            for j in range(i + 1, min(i + 1 + self.prefetch, len(self))):
                if j not in self._ahead:
                    self._ahead[j] = self._pool.submit(self._read, self.order, j)
        return batch

    def _read(self, order: np.ndarray, i: int) -> tuple[np.ndarray, np.ndarray]:
        if self._file is None:
            self._file = h5py.File(self.path, "r")  # h5py serialises the threads' reads of one file
        idx = np.sort(order[i * self.batch_size : (i + 1) * self.batch_size])
        return take(self._file["X"], idx), take(self._file["Y"], idx)


def take(dataset: h5py.Dataset, idx: np.ndarray) -> np.ndarray:
    """``dataset[idx]`` for sorted indices, read as one slice per run of consecutive indices.

    h5py's own fancy indexing builds a selection point by point: 14-38 ms for a batch of 32 patches
    against 0.3 ms this way, which would leave a GPU waiting on every training step.
    """
    out = np.empty((len(idx),) + dataset.shape[1:], dataset.dtype)
    for a, b in geometry.consecutive_runs(idx):
        out[a:b] = dataset[idx[a] : idx[b - 1] + 1]
    return out


class EpochCheckpoints(keras.callbacks.Callback):
    """Reshuffle at each epoch start; save the checkpoint and its state at each epoch end."""

    def __init__(self, batches: PatchBatches, ckpt: str, state: str, params: dict, t0: float, spent: float):
        super().__init__()
        self.batches, self.ckpt, self.state, self.train_params, self.t0, self.spent = batches, ckpt, state, params, t0, spent

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.batches.set_epoch(epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        dncnn.save(self.model, self.ckpt)
        elapsed = self.spent + time.perf_counter() - self.t0
        write_json(self.state, {"epoch": epoch + 1, "params": self.train_params, "train_seconds": elapsed})


def write_json(path: str, obj: dict) -> None:
    tmp = path + ".partial"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, default=float)
    os.replace(tmp, path)


def artifacts(out: str) -> dict[str, str]:
    """Paths of everything ``train`` writes for model ``out``."""
    stem = out[: -len(".keras")] if out.endswith(".keras") else out
    return {
        "model": out,
        "checkpoint": stem + ".checkpoint.keras",
        "state": stem + ".checkpoint.json",
        "history": stem + ".history.csv",
        "metrics": stem + ".metrics.json",
        "loss_figure": stem + ".loss.png",
        "training_figure": stem + ".training-pairs.png",
        "test_figure": stem + ".test-denoised.png",
    }


def _jit_compile() -> bool | str:
    """XLA is slower than plain TensorFlow on CPU (DESIGN.md); elsewhere let Keras decide."""
    return False if keras.backend.backend() == "tensorflow" and not _has_gpu() else "auto"


def _compile(model, spec: TrainSpec) -> None:
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=spec.learning_rate), loss="mse",
                  jit_compile=_jit_compile(), steps_per_execution=spec.steps_per_execution)


def _has_gpu() -> bool:
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend() == "gpu"
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def train(data: str, out: str, spec: TrainSpec = TrainSpec(), resume: bool = False, overwrite: bool = False,
          verbose: int | str = "auto") -> dict:
    """Train on ``data`` and save the model to ``out`` (.keras); returns the final metrics."""
    if not out.endswith(".keras"):
        raise SeisbatchError(out, "the trained model is saved in Keras format: give a path ending in .keras")
    paths = artifacts(out)
    f, n, n_test_file = open_dataset(data)
    f.close()
    n_test = spec.n_test if spec.n_test is not None else n_test_file
    if not 0 <= n_test < n:
        raise SeisbatchError(data, f"{n} patches cannot hold out {n_test} for testing")
    params = dict(asdict(spec), n_test=n_test, data=os.path.abspath(data), backend=keras.backend.backend())
    start = dncnn.load(spec.init) if spec.init else None  # loaded once: for its digest and its weights
    if start is not None:
        params["init"] = os.path.abspath(spec.init)
        params["init_digest"] = dncnn.digest(start)
    resumable = {k: v for k, v in params.items()  # what changes the weights (reading ahead does not)
                 if k not in ("epochs", "recalibrate_bn", "backend", "prefetch", "steps_per_execution")}
    initial_epoch, spent = 0, 0.0
    if resume:
        if not os.path.exists(paths["checkpoint"]) or not os.path.exists(paths["state"]):
            raise SeisbatchError(paths["checkpoint"], "no checkpoint to resume from (train without --resume first)")
        with open(paths["state"]) as fh:
            state = json.load(fh)
        before = {k: v for k, v in state["params"].items() if k in resumable}
        changed = sorted(k for k in resumable if before.get(k) != resumable[k])
        if changed:
            raise SeisbatchError(paths["state"], f"cannot resume with different settings: {', '.join(changed)}")
        model = keras.saving.load_model(paths["checkpoint"])  # with the optimizer's state
        model.jit_compile = _jit_compile()  # not kept in the file: the same numerics as an unbroken run
        initial_epoch, spent = int(state["epoch"]), float(state.get("train_seconds", 0.0))
    else:
        existing = [p for k, p in paths.items() if k in ("model", "checkpoint") and os.path.exists(p)]
        if existing and not overwrite:
            raise SeisbatchError(existing[0], "exists (use --resume to continue training or --overwrite to start again)")
        for k in ("checkpoint", "state", "history"):  # the progress of the run now starting
            if os.path.exists(paths[k]):
                os.remove(paths[k])
        # the model, its metrics and figures stay until the run's end replaces them (the model is
        # written aside and renamed): a run that fails or is stopped leaves the old model whole
        keras.utils.set_random_seed(spec.seed)
        model = dncnn.build_dncnn(spec.depth, spec.filters, "mixed_float16" if spec.mixed_precision else None)
        if start is not None:
            if dncnn.architecture(start) != dncnn.architecture(model):
                raise SeisbatchError(spec.init, f"--init model is {dncnn.architecture(start)}, not depth {spec.depth} x {spec.filters} filters")
            model.set_weights(start.get_weights())
        _compile(model, spec)

    batches = PatchBatches(data, n - n_test, spec.batch_size, spec.shuffle, spec.seed, spec.steps_per_epoch,
                           prefetch=spec.prefetch)
    t0 = time.perf_counter()
    if initial_epoch < spec.epochs:
        model.fit(
            batches, epochs=spec.epochs, initial_epoch=initial_epoch, verbose=verbose, shuffle=False,  # ours, seeded
            callbacks=[EpochCheckpoints(batches, paths["checkpoint"], paths["state"], params, t0, spent),
                       keras.callbacks.CSVLogger(paths["history"], append=resume)],
        )
    train_seconds = spent + time.perf_counter() - t0
    result: dict = {"epochs": spec.epochs, "train_seconds": train_seconds, "params": params}
    if spec.recalibrate_bn:
        result["held_out_before_recalibration"] = evaluate(model, data, n_test=n_test)
        recalibrate_bn(model, batches, spec.recalibrate_bn)
    result["held_out"] = evaluate(model, data, n_test=n_test)
    dncnn.save(model, out, include_optimizer=False)
    result.update(model=out, digest=dncnn.digest(model), keras=keras.__version__,
                  machine={"platform": platform.platform(), "processor": platform.machine(),
                           "cpus": os.cpu_count(), "gpu": _has_gpu()})
    figures(model, data, n_test, paths["training_figure"], paths["test_figure"])
    loss_figure(paths["history"], paths["loss_figure"], result["held_out"])
    write_json(paths["metrics"], result)
    return result


def recalibrate_bn(model, batches: PatchBatches, n_batches: int) -> None:
    """Re-estimate BatchNorm moving statistics as the average over ``n_batches`` training batches.

    With the paper's momentum 0.0 the statistics are those of the very last training batch; this
    replaces them with a cumulative mean (momentum k/(k+1) at batch k) in training mode.
    """
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    saved = [b.momentum for b in bns]
    try:
        for k in range(min(n_batches, len(batches))):
            for b in bns:
                b.momentum = k / (k + 1)
            x, _ = batches[k]
            model(x, training=True)  # small batch: eager activations stay in memory only briefly
    finally:
        for b, m in zip(bns, saved):
            b.momentum = m


def evaluate(model, data: str, n_test: int | None = None, all_patches: bool = False, batch_size: int = 32) -> dict:
    """Held-out metrics: MSE and SNR (dB) before and after denoising, and the SNR of the model's
    output on the clean patches themselves (how much it harms noise-free data)."""
    f, n, n_test_file = open_dataset(data)
    start = 0 if all_patches else n - (n_test if n_test is not None else n_test_file)
    noisy, denoised, clean_in = SnrAccumulator(), SnrAccumulator(), SnrAccumulator()
    with f:
        for a in range(start, n, 512):
            x, y = f["X"][a : a + 512], f["Y"][a : a + 512]
            noisy.add(y, x)
            denoised.add(y, dncnn.predict(model, x, batch_size))
            clean_in.add(y, dncnn.predict(model, y, batch_size))
    return {
        "patches": n - start, "mse_before": noisy.mse, "mse_after": denoised.mse,
        "snr_before_db": noisy.snr_db, "snr_after_db": denoised.snr_db,
        "snr_gain_db": denoised.snr_db - noisy.snr_db, "clean_snr_db": clean_in.snr_db,
    }


def figures(model, data: str, n_test: int, train_png: str, test_png: str) -> None:
    """The paper's two figures: 4 training pairs (noisy/clean), 4 held-out (noisy/denoised), the
    latter with the held-out clean patches beneath, to judge the denoised ones against."""
    f, n, _ = open_dataset(data)
    with f:
        tr = np.linspace(0, max(n - n_test - 1, 0), 4).astype(int)
        te = np.linspace(n - n_test, n - 1, 4).astype(int) if n_test else tr
        xs, ys = f["X"][sorted(set(tr))], f["Y"][sorted(set(tr))]
        xt, yt = f["X"][sorted(set(te))], f["Y"][sorted(set(te))]
    plots.patch_grid(train_png, [("noisy", xs), ("clean", ys)], "training pairs")
    plots.patch_grid(test_png, [("noisy", xt), ("denoised", dncnn.predict(model, xt)), ("clean", yt)],
                     "held-out patches")


def read_history(path: str) -> dict[str, np.ndarray]:
    """The history CSV's columns (epoch, loss, val_loss, ...) as float arrays, NA as NaN."""
    with open(path) as fh:
        names = fh.readline().strip().split(",")
        rows = [line.strip().split(",") for line in fh if line.strip()]
    return {k: np.array([float("nan") if r[i] == "NA" else float(r[i]) for r in rows]) for i, k in enumerate(names)}


def loss_figure(history: str, png: str, held_out: dict) -> str:
    """The loss per epoch from the history CSV (the validation loss too when there is one)."""
    h = read_history(history)
    curves = [("training", h["loss"])]
    if "val_loss" in h and np.isfinite(h["val_loss"]).any():
        curves.append(("validation", h["val_loss"]))
    title = (f"held-out SNR {held_out['snr_before_db']:.2f} -> {held_out['snr_after_db']:.2f} dB "
             f"({held_out['patches']} patches)")
    return plots.loss_curve(png, h["epoch"] + 1, curves, title)


def evaluate_file(model_path: str | None, data: str, n_test: int | None = None, all_patches: bool = False,
                  batch_size: int = 32) -> dict:
    """``seisbatch evaluate``: load a model and return its held-out metrics and digest."""
    m = dncnn.load(model_path)
    result = evaluate(m, data, n_test=n_test, all_patches=all_patches, batch_size=batch_size)
    result.update(model=model_path or dncnn.default_model_path(), digest=dncnn.digest(m))
    return result

