"""The DnCNN of Yu & Ma (2021), built with ``keras.*`` only so TensorFlow, JAX and PyTorch run it.

Input (None, None, 1); Conv2D(64, 3, same, relu); (depth - 2) x [Conv2D(64, 3, same, no bias) ->
BatchNormalization(momentum 0.0, epsilon 1e-4) -> ReLU]; Conv2D(1, 3, same, no bias); the output is
input - x, so the network learns the noise (residual learning). Patches are (trace, sample).

This module knows nothing of Dask or stores: it builds, saves, loads, identifies and runs a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import weakref
from importlib import resources

import numpy as np

from .errors import SeisbatchError

DEPTH, FILTERS = 17, 64
DEFAULT_MODEL = "dncnn-field.keras"


def build_dncnn(depth: int = DEPTH, filters: int = FILTERS, dtype: str | None = None, folded: bool = False):
    """The paper's network; ``dtype`` is a Keras dtype policy (e.g. "mixed_float16" on a GPU).
    ``folded``: the inference form, each Conv -> BatchNorm -> ReLU as one Conv with bias and ReLU
    (:func:`for_inference` fills it)."""
    import keras
    from keras import layers

    if depth < 2 or filters < 1:
        raise ValueError("DnCNN needs depth >= 2 and filters >= 1")
    inp = keras.Input(shape=(None, None, 1), name="noisy")
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", dtype=dtype, name="conv_1")(inp)
    for i in range(2, depth):
        if folded:
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", dtype=dtype, name=f"conv_{i}")(x)
            continue
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, dtype=dtype, name=f"conv_{i}")(x)
        x = layers.BatchNormalization(axis=-1, momentum=0.0, epsilon=1e-4, dtype=dtype, name=f"bn_{i}")(x)
        x = layers.ReLU(dtype=dtype, name=f"relu_{i}")(x)
    noise = layers.Conv2D(1, 3, padding="same", use_bias=False, dtype=dtype, name=f"conv_{depth}")(x)
    out = layers.Subtract(dtype="float32", name="denoised")([inp, noise])
    return keras.Model(inp, out, name=f"dncnn_{depth}x{filters}")


def architecture(model) -> dict:
    """Depth and width of a DnCNN, read from its layers (the digest and card use it)."""
    convs = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    return {"depth": len(convs), "filters": int(convs[0].filters)}


def receptive_radius(model_or_depth) -> int:
    """Samples of context each output sample sees on every side: one per 3x3 layer."""
    return model_or_depth if isinstance(model_or_depth, int) else architecture(model_or_depth)["depth"]


def flops_per_sample(depth: int = DEPTH, filters: int = FILTERS) -> int:
    """Floating-point operations (2 per multiply-add) of one output sample: 3x3 convolutions
    1->F, (depth-2) x F->F, F->1. Benchmarks divide achieved rates by the matmul rate with it."""
    return 2 * 9 * (filters + (depth - 2) * filters * filters + filters)


def is_folded(model) -> bool:
    """True for the inference form of :func:`for_inference` (no BatchNorm layers)."""
    return not any(layer.__class__.__name__ == "BatchNormalization" for layer in model.layers)


def digest(model) -> str:
    """SHA-256 of the architecture and every weight's shape and float32 bytes, in layer order.

    The same trained weights give the same digest under every backend and file format, so a stored
    output can name exactly the model that made it.
    """
    h = hashlib.sha256(json.dumps(architecture(model), sort_keys=True).encode())
    for w in model.get_weights():
        a = np.ascontiguousarray(np.asarray(w, dtype=np.float32))
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def default_model_path() -> str:
    """The pretrained model shipped inside the package."""
    return str(resources.files("seisbatch") / "models" / DEFAULT_MODEL)


def load(path: str | os.PathLike | None = None, depth: int = DEPTH, filters: int = FILTERS):
    """Load a ``.keras`` model, or ``.weights.h5`` weights into a DnCNN of the given size."""
    import keras

    path = os.fspath(path) if path is not None else default_model_path()
    if not os.path.isfile(path):
        raise SeisbatchError(path, "model file not found")
    try:
        if path.endswith(".weights.h5"):
            model = build_dncnn(depth, filters)
            model.load_weights(path)
        elif path.endswith(".keras"):
            model = keras.saving.load_model(path, compile=False)
        else:
            raise SeisbatchError(path, "a model must be a .keras file or .weights.h5 weights")
    except SeisbatchError:
        raise
    except Exception as exc:  # keras raises many types for a damaged or mismatched file
        raise SeisbatchError(path, f"cannot load model: {str(exc).splitlines()[0]}") from exc
    return model


def save(model, path: str | os.PathLike, include_optimizer: bool = True) -> None:
    """Save as ``.keras`` (architecture + weights, and the optimizer's state when compiled and
    asked for: checkpoints need it, shipped models do not) or ``.weights.h5``; written aside, then
    renamed, so a file with the final name is always whole."""
    import keras

    path = os.fspath(path)
    if not include_optimizer and getattr(model, "optimizer", None) is not None:
        bare = keras.Model.from_config(model.get_config())  # not clone_model: Keras 3 clones the compile state too
        bare.set_weights(model.get_weights())
        model = bare
    suffix = ".weights.h5" if path.endswith(".weights.h5") else ".keras"
    if not path.endswith(suffix):
        raise SeisbatchError(path, "a model must be saved as .keras or .weights.h5")
    tmp = path[: -len(suffix)] + ".partial" + suffix
    if suffix == ".keras":
        model.save(tmp)
    else:
        model.save_weights(tmp)
    os.replace(tmp, path)


def for_inference(model, precision: str = "float32"):
    """The network as ``denoise`` runs it: BatchNorm folded into the convolution before it (scale
    into the kernel, shift into a bias, computed in float64), so that each hidden layer is one
    convolution with bias and ReLU instead of three passes over its 64 channels; the same function
    up to float32 rounding (relative difference ~3e-6 on the shipped model). Then ``precision``
    as in :func:`with_precision`. The digest stays that of ``model``: compute it before."""
    arch = architecture(model)
    folded = build_dncnn(**arch, folded=True)
    for layer in folded.layers:
        if layer.__class__.__name__ != "Conv2D":
            continue
        source = model.get_layer(layer.name)
        n = int(layer.name.split("_")[1])
        if 1 < n < arch["depth"]:
            bn = model.get_layer(f"bn_{n}")
            gamma, beta, mean, var = (np.asarray(w, np.float64) for w in bn.get_weights())
            s = gamma / np.sqrt(var + bn.epsilon)
            kernel = np.asarray(source.get_weights()[0], np.float64) * s
            layer.set_weights([kernel.astype(np.float32), (beta - mean * s).astype(np.float32)])
        else:
            layer.set_weights(source.get_weights())
    return with_precision(folded, precision)


def with_precision(model, precision: str = "float32"):
    """The same network and weights computing in ``precision`` ("bfloat16" or "float16"); the
    weights stay float32 (Keras' mixed policies) and the residual ``input - noise`` is float32, so
    only the noise estimate is rounded. Half precision is for GPUs, where it doubles the rate of
    the convolutions; ``seisbatch qc`` reports its error against float32."""
    if precision == "float32":
        return model
    if precision not in ("bfloat16", "float16"):
        raise ValueError(f"precision must be float32, bfloat16 or float16, not {precision!r}")
    half = build_dncnn(**architecture(model), dtype=f"mixed_{precision}", folded=is_folded(model))
    half.set_weights(model.get_weights())
    return half


def predict(model, patches: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """Denoise (n, h, w) or (n, h, w, 1) float32 arrays in fixed-size batches.

    Goes through the model's compiled predict step (``predict_on_batch``) on every backend: calling
    the functional model eagerly keeps all intermediate activations and needs gigabytes for a few
    tiles. The last batch is padded to full size so the step is traced once per window shape.
    """
    import keras

    x = np.asarray(patches, dtype=np.float32)
    # Keras' JAX predict step donates the model's weight buffers and puts new ones back: two threads
    # predicting with one model at once fail ("Array has been deleted"), so they take turns there
    lock = contextlib.nullcontext() if keras.backend.backend() == "tensorflow" else _predict_lock(model)
    squeeze = x.ndim == 3
    if squeeze:
        x = x[..., None]
    n = len(x)
    size = max(1, min(batch_size, n))
    out = np.empty(x.shape, np.float32)
    for a in range(0, n, size):
        b = x[a : a + size]
        k = len(b)
        if k < size:
            b = np.concatenate([b, np.zeros((size - k,) + b.shape[1:], np.float32)])
        with lock:
            y = model.predict_on_batch(b)
        out[a : a + k] = np.asarray(y, dtype=np.float32)[:k]
    return out[..., 0] if squeeze else out


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def _predict_lock(model) -> threading.Lock:
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(model, threading.Lock())
