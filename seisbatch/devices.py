"""Which accelerator a worker process uses, for every Keras backend.

Kept apart from the model (which only builds and runs networks) and from the runner (which only
schedules): a worker calls ``pin_own_gpu`` before any backend touches CUDA, then ``start_backend``,
which imports the backend and configures it with TensorFlow's start-up notices held back.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator, MutableMapping


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


#: Lines TensorFlow's native code prints on every start, whatever TF_CPP_MIN_LOG_LEVEL says (they
#: come before its logging is initialised): notices, not problems, on a machine without a GPU.
_START_CHATTER = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine, GPU will not be used",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions:",
)
_NO_DRIVER = _START_CHATTER[2]
_CUINIT_FAILED = "failed call to cuInit"


def without_start_chatter(text: str) -> str:
    """``text`` (what the backend printed while starting) less TensorFlow's start-up notices; its
    failed cuInit is dropped only where it also said that the machine has no CUDA driver."""
    no_driver = _NO_DRIVER in text
    return "".join(line for line in text.splitlines(keepends=True)
                   if not any(c in line for c in _START_CHATTER) and not (no_driver and _CUINIT_FAILED in line))


@contextlib.contextmanager
def quiet_start(env: MutableMapping[str, str] = os.environ) -> Iterator[None]:
    """Hold back what native code writes to stderr (file descriptor 2) in this block, then pass it
    on less TensorFlow's start-up notices (:func:`without_start_chatter`). On a CPU machine every
    worker otherwise prints seven such lines, one an alarming "CUDA error". A user who sets
    TF_CPP_MIN_LOG_LEVEL gets TensorFlow's own output untouched."""
    if "TF_CPP_MIN_LOG_LEVEL" in env:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            rest = without_start_chatter(held.read().decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def start_backend(threads: int | None = None) -> None:
    """Import the Keras backend and open its devices, quietly (:func:`quiet_start`, and
    TensorFlow's INFO lines off unless TF_CPP_MIN_LOG_LEVEL is set); ``threads``: the backend's
    thread count (:func:`configure_backend`), default its own choice."""
    with quiet_start():  # decides on the user's TF_CPP_MIN_LOG_LEVEL before the line below sets it
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's later INFO lines too; warnings stay
        import keras

        if threads is not None:
            configure_backend(threads)
        elif keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # CUDA is initialised here, inside the quiet block


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
