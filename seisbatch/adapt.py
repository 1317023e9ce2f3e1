"""Self-supervised fine-tuning of the DnCNN on a noisy survey alone (``seisbatch adapt``).

A user has no clean copy of their survey. Three losses learn from the noisy patches themselves:

- ``recorrupted`` (Recorrupted-to-Recorrupted, Pang et al. 2021): the input is y + a*z and the
  target y - z/a, with z ~ N(0, sigma^2) drawn anew for every batch; their noises are independent,
  so the mean squared error is, in expectation, that of a clean target. The recorruption must
  have the noise's own covariance: z is coloured along time with the spectrum of what the base
  model removes (``spectrum="estimated"``; white noise recorrupting band-limited noise taught the
  model to undo its denoising). sigma is the noise level
  in scaled units, by default the standard deviation of what the base model removes;
- ``blind-spot`` (Noise2Void, Krull et al. 2019; Birnie et al. 2021 for seismic): a few samples of
  each patch are replaced by a neighbour's value and only those samples count in the loss, so the
  network must predict a sample from its context, where independent noise cannot be predicted;
- ``blind-trace`` (Liu, Birnie & Alkhalifah 2023): whole traces are masked, for noise that is
  correlated along a trace.

BatchNorm is frozen (the paper's momentum 0 would otherwise keep the statistics of the last,
recorrupted batch), and the learning rate warms up over the first 20 steps, then decays to zero
along a cosine (one full-rate Adam step can cost several dB); every batch is drawn from
(seed, epoch, batch), so a resumed run equals an unbroken one. This module knows nothing of Dask: it takes patches and returns a model.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict

import keras
import numpy as np

from . import model as dncnn
from .training import EpochCheckpoints, write_json
from .specs import LOSSES, WARMUP_STEPS, AdaptSpec  # noqa: F401 (AdaptSpec is part of this API)
from .errors import SeisbatchError

@keras.saving.register_keras_serializable(package="seisbatch")
def weighted_mse(y_true, y_pred):
    """MSE over the samples whose weight (the target's second channel) is 1: the masked samples of
    the blind-spot losses, every sample of the recorrupted loss."""
    ops = keras.ops
    target, weight = y_true[..., :1], y_true[..., 1:]
    return ops.sum(weight * ops.square(y_pred - target)) / ops.maximum(ops.sum(weight), 1.0)


def pairs(patches: np.ndarray, spec: AdaptSpec, sigma: float, rng: np.random.Generator,
          shape: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(input, target+weight) of one batch of (n, trace, sample) noisy patches; ``shape``: the
    amplitude response along samples that colours the recorruption (unit output variance)."""
    y = patches.astype(np.float32)
    weight = np.ones_like(y)
    if spec.loss == "recorrupted":
        z = rng.standard_normal(y.shape)
        if shape is not None:
            z = np.fft.irfft(np.fft.rfft(z, axis=-1) * shape, n=y.shape[-1], axis=-1)
        z = z.astype(np.float32) * np.float32(sigma)
        x, target = y + spec.alpha * z, y - z / spec.alpha
    else:
        x, target = y.copy(), y
        weight = np.zeros_like(y)
        n, n_tr, n_s = y.shape
        if spec.loss == "blind-spot":
            k = max(1, int(round(spec.mask_fraction * n_tr * n_s)))
            for i in range(n):
                t, s = rng.integers(0, n_tr, k), rng.integers(0, n_s, k)
                dt, ds = _offsets(rng, k)
                x[i, t, s] = y[i, np.clip(t + dt, 0, n_tr - 1), np.clip(s + ds, 0, n_s - 1)]
                weight[i, t, s] = 1.0
        else:  # blind-trace: whole traces replaced by a neighbouring trace
            k = max(1, int(round(spec.mask_fraction * n_tr)))
            for i in range(n):
                t = rng.choice(n_tr, k, replace=False)
                step = rng.choice([-2, -1, 1, 2], k)
                x[i, t] = y[i, np.clip(t + step, 0, n_tr - 1)]
                weight[i, t] = 1.0
    return x[..., None], np.stack([target, weight], axis=-1)


def learning_rate(spec: AdaptSpec):
    """Adam's learning rate: ``spec.learning_rate``, or a schedule rising to it over the first 20
    steps (5% of all steps where that is more) and falling to zero along a cosine. Adam's first
    steps move every weight by about the rate whatever its gradient, so a short run never reaches
    the full rate."""
    if spec.schedule == "constant":
        return spec.learning_rate
    steps = spec.epochs * -(-spec.patches // spec.batch_size)
    warm = max(WARMUP_STEPS, round(0.05 * steps))
    return keras.optimizers.schedules.CosineDecay(0.0, max(1, steps - warm), alpha=0.0,
                                                  warmup_target=spec.learning_rate, warmup_steps=warm)


def _offsets(rng: np.random.Generator, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Random neighbour offsets within a 5 x 5 window, never (0, 0)."""
    d = rng.integers(-2, 3, (k, 2))
    zero = (d == 0).all(axis=1)
    d[zero, 0] = rng.choice([-1, 1], int(zero.sum()))
    return d[:, 0], d[:, 1]


class Batches(keras.utils.PyDataset):
    """Batches of a fixed patch set, drawn from (seed, epoch, batch): reproducible and resumable."""

    def __init__(self, patches: np.ndarray, spec: AdaptSpec, sigma: float, shape: np.ndarray | None = None):
        super().__init__()
        self.patches, self.spec, self.sigma, self.shape = patches, spec, sigma, shape
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        rng = np.random.default_rng([self.spec.seed, epoch])
        self.order = rng.choice(len(self.patches), self.spec.patches, replace=len(self.patches) < self.spec.patches)

    def __len__(self) -> int:
        return -(-self.spec.patches // self.spec.batch_size)

    def __getitem__(self, i: int):
        idx = self.order[i * self.spec.batch_size : (i + 1) * self.spec.batch_size]
        return pairs(self.patches[idx], self.spec, self.sigma, np.random.default_rng([self.spec.seed, self.epoch, i, 7]),
                     self.shape)


def removed(model, patches: np.ndarray) -> np.ndarray:
    """What ``model`` removes from (up to 256 of) the patches."""
    sample = patches[: min(len(patches), 256)]
    return sample - dncnn.predict(dncnn.for_inference(model), sample, 16)


def estimate_noise(removed_noise: np.ndarray) -> tuple[float, np.ndarray]:
    """Noise level in scaled units and its amplitude spectrum along samples, from what the base
    model removes (:func:`removed`; the level within a few % of the true one for white noise on
    field data). The spectrum is an amplitude response scaled so that white noise through it keeps
    unit variance."""
    power = np.mean(np.abs(np.fft.rfft(removed_noise.astype(np.float64), axis=-1)) ** 2, axis=(0, 1))
    return float(np.std(removed_noise)), unit_response(np.sqrt(power), removed_noise.shape[-1])


def removed_level(model, patches: np.ndarray) -> float:
    """Standard deviation of what ``model`` removes from (up to 256 of) the patches."""
    return float(np.std(removed(model, patches)))


def unit_response(amplitude: np.ndarray, n: int) -> np.ndarray:
    """``amplitude`` (rfft bins of ``n`` samples) scaled so that white noise filtered by it keeps
    unit variance (Parseval: interior bins count twice)."""
    w = np.full(len(amplitude), 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return amplitude / np.sqrt(np.sum(w * amplitude**2) / n)


def artifacts(out: str) -> dict[str, str]:
    stem = out[: -len(".keras")]
    return {"model": out, "checkpoint": stem + ".checkpoint.keras", "state": stem + ".checkpoint.json",
            "history": stem + ".history.csv", "metrics": stem + ".metrics.json"}


def adapt(patches: np.ndarray, out: str, base: str | None, spec: AdaptSpec, info: dict, resume: bool = False,
          overwrite: bool = False, verbose: int | str = "auto") -> dict:
    """Fine-tune ``base`` (default: the shipped model) on noisy ``patches`` (n, trace, sample),
    scaled as the denoiser scales, and save the result to ``out``; returns its metrics. ``info``
    (the store, its scale) goes into the metrics file."""
    if not out.endswith(".keras"):
        raise SeisbatchError(out, "the adapted model is saved in Keras format: give a path ending in .keras")
    paths = artifacts(out)
    start = dncnn.load(base)
    params = dict(asdict(spec), base=os.path.abspath(base or dncnn.default_model_path()),
                  base_digest=dncnn.digest(start), **info)
    initial, spent, base_removed = 0, 0.0, None
    if resume:
        if not (os.path.exists(paths["checkpoint"]) and os.path.exists(paths["state"])):
            raise SeisbatchError(paths["checkpoint"], "no checkpoint to resume from (adapt without --resume first)")
        with open(paths["state"]) as fh:
            state = json.load(fh)
        free = ("sigma_used", "spectrum_used") + (("epochs",) if spec.schedule == "constant" else ())
        before = {k: v for k, v in state["params"].items() if k not in free}  # a cosine spans all epochs
        changed = sorted(k for k in before if before[k] != params.get(k))
        if changed:
            raise SeisbatchError(paths["state"], f"cannot resume with different settings: {', '.join(changed)}")
        model = keras.saving.load_model(paths["checkpoint"])
        initial, spent = int(state["epoch"]), float(state.get("train_seconds", 0.0))
        params["sigma_used"] = state["params"]["sigma_used"]
        params["spectrum_used"] = state["params"].get("spectrum_used")
    else:
        existing = [p for k, p in paths.items() if k in ("model", "checkpoint") and os.path.exists(p)]
        if existing and not overwrite:
            raise SeisbatchError(existing[0], "exists (use --resume to continue or --overwrite to start again)")
        for k in ("checkpoint", "state", "history"):
            if os.path.exists(paths[k]):
                os.remove(paths[k])
        keras.utils.set_random_seed(spec.seed)
        model = dncnn.build_dncnn(**dncnn.architecture(start))
        model.set_weights(start.get_weights())
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False  # inference-mode statistics, kept as the base model has them
        model.compile(optimizer=keras.optimizers.Adam(learning_rate(spec)), loss=weighted_mse, jit_compile=False)
        params["sigma_used"], params["spectrum_used"] = None, None
        if spec.loss == "recorrupted":
            base_removed = removed(start, patches)
            sigma, shape = estimate_noise(base_removed)
            params["sigma_used"] = spec.sigma or sigma
            params["spectrum_used"] = shape.tolist() if spec.spectrum == "estimated" else None
    shape = np.asarray(params["spectrum_used"]) if params.get("spectrum_used") else None
    batches = Batches(patches, spec, params["sigma_used"] or 0.0, shape)
    t0 = time.perf_counter()
    if initial < spec.epochs:
        model.fit(batches, epochs=spec.epochs, initial_epoch=initial, verbose=verbose, shuffle=False,
                  callbacks=[EpochCheckpoints(batches, paths["checkpoint"], paths["state"], params, t0, spent),
                             keras.callbacks.CSVLogger(paths["history"], append=resume)])
    seconds = spent + time.perf_counter() - t0
    dncnn.save(model, out, include_optimizer=False)
    # the guard against a model that learned the identity: it must still remove about as much as the base
    base_level = float(np.std(base_removed)) if base_removed is not None else removed_level(start, patches)
    removal = {"base": base_level, "adapted": removed_level(model, patches)}
    removal["ratio"] = removal["adapted"] / removal["base"] if removal["base"] else 1.0
    result = {"model": out, "digest": dncnn.digest(model), "seconds": seconds, "params": params,
              "patches_available": int(len(patches)), "removed_level": removal}
    write_json(paths["metrics"], result)
    return result
