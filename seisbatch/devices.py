"""Which accelerator a worker process uses, for every Keras backend.

Kept apart from the model (which only builds and runs networks) and from the runner (which only
schedules): a worker calls ``pin_own_gpu`` before any backend touches CUDA, and
``configure_backend`` once the backend is imported.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping


def pin_own_gpu(env: MutableMapping[str, str] = os.environ) -> str | None:
    """Keep only this worker's GPU visible and let memory grow instead of being preallocated.

    dask-cuda gives worker i ``CUDA_VISIBLE_DEVICES="i,i+1,...,0,..."``: its own GPU first, but all
    of them listed, so TensorFlow and JAX would open (and JAX preallocate on) every GPU of the
    machine. Keeping the first entry makes each backend see exactly one device, the worker's own.
    Returns the device kept (None when no GPU list is set).
    """
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible and "," in visible:
        visible = visible.split(",")[0].strip()
        env["CUDA_VISIBLE_DEVICES"] = visible
    env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # TensorFlow: grow, do not take the whole device
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX: the same
    env.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")  # PyTorch: less fragmentation
    return visible or None


def hide_gpus(env: MutableMapping[str, str] = os.environ) -> None:
    """Run on the CPU even where GPUs exist (``--device cpu``)."""
    env["CUDA_VISIBLE_DEVICES"] = ""


def configure_backend(threads: int) -> None:
    """After the Keras backend is imported: its thread count, and for TensorFlow the GPU settings
    again through its API (in case CUDA was initialised in this process before the variables were set)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                tf.config.set_visible_devices(gpus[0], "GPU")
                tf.config.experimental.set_memory_growth(gpus[0], True)
        except RuntimeError:  # TensorFlow already running in this worker: keep its settings
            pass
    elif keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
        if torch.cuda.is_available():
            torch.cuda.set_device(0)  # the first visible device: the worker's own after pin_own_gpu
