"""Inference engines for the DnCNN: the same weights, the same function, run by the fastest engine a
worker has. The weights come from the ``.keras`` file (its digest is unchanged) in the inference
form of :func:`seisbatch.model.for_inference`: each hidden layer one 3 × 3 convolution with bias
and ReLU (BatchNorm folded), the last one the noise estimate, the output ``input - noise``.

- ``keras``: the Keras model on its backend (TensorFlow here; JAX or PyTorch where set), through
  its compiled predict step. The default: the measured one.
- ``onnx``: an ONNX graph built from the weights (Conv, Relu, Sub; NCHW), run by ONNX Runtime with
  the best provider it has (TensorRT, CUDA, then CPU); float32, or float16 on a GPU.
- ``jax``: the convolutions written with ``jax.lax`` in NHWC and compiled once per tile shape by
  ``jax.jit``; float32, or bfloat16 on a GPU (the residual stays float32).

Each is tested on the CPU against the Keras model (float32 tolerance); ``benchmarks/gpu.py``
times them on a GPU. No Dask here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ENGINES = ("auto", "keras", "onnx", "jax")
Predict = Callable[[np.ndarray, int], np.ndarray]  # (tiles (n, h, w), batch size) -> denoised tiles


def weights(model) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(kernel (3, 3, in, out) float32, bias or None) of each convolution of an inference-form
    model (:func:`seisbatch.model.for_inference`), input to output."""
    convs = sorted((layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"),
                   key=lambda layer: int(layer.name.split("_")[1]))
    out = []
    for layer in convs:
        w = layer.get_weights()
        out.append((np.asarray(w[0], np.float32), np.asarray(w[1], np.float32) if len(w) > 1 else None))
    return out


def build(model, engine: str = "auto", precision: str = "float32") -> Predict:
    """The predict function of ``engine`` for an inference-form Keras ``model`` (``auto``: keras)."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine in ("auto", "keras"):
        from . import model as dncnn

        return lambda tiles, batch_size: dncnn.predict(model, tiles, batch_size)
    return (onnx_predict if engine == "onnx" else jax_predict)(weights(model), precision)


def onnx_graph(layers: list[tuple[np.ndarray, np.ndarray | None]], precision: str = "float32") -> bytes:
    """The network as a serialized ONNX model: input ``noisy`` (n, 1, h, w) float32, output
    ``denoised`` float32; the convolutions in ``precision`` (float32 or float16)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if precision not in ("float32", "float16"):
        raise ValueError(f"the onnx engine computes in float32 or float16, not {precision}")
    half = precision == "float16"
    dtype = np.float16 if half else np.float32
    nodes, inits = [], []
    x = "noisy"
    if half:
        nodes.append(helper.make_node("Cast", ["noisy"], ["noisy_h"], to=TensorProto.FLOAT16))
        x = "noisy_h"
    for i, (kernel, bias) in enumerate(layers):
        w = numpy_helper.from_array(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)).astype(dtype), f"w{i}")
        inputs = [x, f"w{i}"]
        inits.append(w)
        if bias is not None:
            inits.append(numpy_helper.from_array(bias.astype(dtype), f"b{i}"))
            inputs.append(f"b{i}")
        nodes.append(helper.make_node("Conv", inputs, [f"c{i}"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        x = f"c{i}"
        if i < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    if half:
        nodes.append(helper.make_node("Cast", [x], ["noise"], to=TensorProto.FLOAT))
        x = "noise"
    nodes.append(helper.make_node("Sub", ["noisy", x], ["denoised"]))
    shape = ["n", 1, "h", "w"]
    graph = helper.make_graph(nodes, "dncnn", [helper.make_tensor_value_info("noisy", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("denoised", TensorProto.FLOAT, shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="seisbatch")
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnx_predict(layers: list[tuple[np.ndarray, np.ndarray | None]], precision: str = "float32") -> Predict:
    import onnxruntime as ort

    preferred = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
    providers = [p for p in preferred if p in ort.get_available_providers()]
    graph = ort.InferenceSession(onnx_graph(layers, precision), providers=providers)

    def predict(tiles: np.ndarray, batch_size: int) -> np.ndarray:
        x = np.asarray(tiles, np.float32)[:, None]
        out = np.empty_like(x)
        for a in range(0, len(x), max(1, batch_size)):
            out[a : a + batch_size] = graph.run(["denoised"], {"noisy": x[a : a + batch_size]})[0]
        return out[:, 0]

    return predict


def jax_predict(layers: list[tuple[np.ndarray, np.ndarray | None]], precision: str = "float32") -> Predict:
    import jax
    import jax.numpy as jnp

    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"the jax engine computes in float32 or bfloat16, not {precision}")
    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.float32
    params = [(jnp.asarray(k, dtype), None if b is None else jnp.asarray(b, dtype)) for k, b in layers]
    dims = ("NHWC", "HWIO", "NHWC")

    @jax.jit
    def forward(x):
        h = x.astype(dtype)
        for i, (k, b) in enumerate(params):
            h = jax.lax.conv_general_dilated(h, k, (1, 1), "SAME", dimension_numbers=dims,
                                             preferred_element_type=jnp.float32 if i == len(params) - 1 else None)
            if b is not None:
                h = h + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return x - h.astype(jnp.float32)

    def predict(tiles: np.ndarray, batch_size: int) -> np.ndarray:
        x = np.asarray(tiles, np.float32)[..., None]
        size = max(1, min(batch_size, len(x)))
        out = np.empty_like(x)
        for a in range(0, len(x), size):
            b = x[a : a + size]
            k = len(b)
            if k < size:  # one compiled shape per tile size
                b = np.concatenate([b, np.zeros((size - k,) + b.shape[1:], np.float32)])
            out[a : a + k] = np.asarray(forward(b))[:k]
        return out[..., 0]

    return predict
