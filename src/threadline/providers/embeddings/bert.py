"""A BERT encoder's forward pass in numpy, for sentence-embedding models such as all-MiniLM-L6-v2.

Inference only, float32, CPU: the weights come from the model's ``model.safetensors``, the matrix
products go to numpy's BLAS (which releases the GIL, so it runs well on a worker thread). No
torch (gigabytes). The reference the ONNX Runtime graph (``bert_onnx.py``, the default runtime)
is tested against, and the ``numpy`` runtime of ``LocalEmbedder``."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file

Array = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: Array  # (hidden, 3 * hidden): query, key and value projections fused into one product
    qkv_b: Array
    out_w: Array
    out_b: Array
    norm1: tuple[Array, Array]
    up_w: Array
    up_b: Array
    down_w: Array
    down_b: Array
    norm2: tuple[Array, Array]


class BertEncoder:
    def __init__(self, model_dir: Path) -> None:
        config = json.loads((model_dir / "config.json").read_text())
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.max_positions = int(config["max_position_embeddings"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        weights = load_file(str(model_dir / "model.safetensors"))

        def get(name: str) -> Array:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        def linear(name: str) -> tuple[Array, Array]:
            # Stored as (out, in); kept as (in, out) so that x @ w needs no transpose per call.
            return np.ascontiguousarray(get(f"{name}.weight").T), get(f"{name}.bias")

        def norm(name: str) -> tuple[Array, Array]:
            return get(f"{name}.weight"), get(f"{name}.bias")

        self._words = get("embeddings.word_embeddings.weight")
        self._positions = get("embeddings.position_embeddings.weight")
        self._token_type = get("embeddings.token_type_embeddings.weight")[0]
        self._embedding_norm = norm("embeddings.LayerNorm")
        self._layers: list[_Layer] = []
        for i in range(int(config["num_hidden_layers"])):
            prefix = f"encoder.layer.{i}"
            q, k, v = (linear(f"{prefix}.attention.self.{p}") for p in ("query", "key", "value"))
            out_w, out_b = linear(f"{prefix}.attention.output.dense")
            up_w, up_b = linear(f"{prefix}.intermediate.dense")
            down_w, down_b = linear(f"{prefix}.output.dense")
            self._layers.append(
                _Layer(
                    qkv_w=np.ascontiguousarray(np.concatenate([q[0], k[0], v[0]], axis=1)),
                    qkv_b=np.concatenate([q[1], k[1], v[1]]),
                    out_w=out_w,
                    out_b=out_b,
                    norm1=norm(f"{prefix}.attention.output.LayerNorm"),
                    up_w=up_w,
                    up_b=up_b,
                    down_w=down_w,
                    down_b=down_b,
                    norm2=norm(f"{prefix}.output.LayerNorm"),
                )
            )

    def mean_pooled(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.float32]) -> Array:
        """Token states averaged over the unmasked tokens: one vector per row of ``ids``."""
        states = self._encode(ids, mask)
        summed = np.einsum("bnh,bn->bh", states, mask)
        return summed / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)

    def _encode(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.float32]) -> Array:
        batch, length = ids.shape
        x = self._words[ids] + self._positions[:length] + self._token_type
        # Token states as one (batch * length, hidden) matrix: the linear layers are then single
        # 2-D products, BLAS's fastest case.
        x = self._norm(x.reshape(batch * length, self.hidden), self._embedding_norm)
        head_size = self.hidden // self.heads
        # Padding keys get a large negative score, so softmax gives them no weight.
        key_bias = ((1.0 - mask) * -1e9).astype(np.float32)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(head_size))
        for layer in self._layers:
            qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, self.heads, head_size)
            query, key, value = (
                np.ascontiguousarray(qkv[:, :, i].transpose(0, 2, 1, 3)) for i in range(3)
            )
            scores = query @ key.transpose(0, 1, 3, 2)
            scores *= scale
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            x = self._norm(x + context @ layer.out_w + layer.out_b, layer.norm1)
            inner = _gelu(x @ layer.up_w + layer.up_b)
            x = self._norm(x + inner @ layer.down_w + layer.down_b, layer.norm2)
        return x.reshape(batch, length, self.hidden)

    def _norm(self, x: Array, weights: tuple[Array, Array]) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        centered = x - mean
        variance = (centered * centered).mean(axis=-1, keepdims=True)
        return centered / np.sqrt(variance + self._eps) * weights[0] + weights[1]


def _gelu(x: Array) -> Array:
    # BERT's exact GELU, x * Phi(x), with erf from Abramowitz & Stegun 7.1.26 (error < 1.5e-7):
    # numpy has no erf, and the tanh approximation shifts the embeddings measurably. In place,
    # on temporaries: this runs on (tokens x 1536) matrices, six times per window.
    z = np.abs(x)
    z *= np.float32(1 / np.sqrt(2))
    t = z * np.float32(0.3275911)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(coefficient)
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt 2)
    # Phi(x) = 1 - poly / 2 for x >= 0, poly / 2 for x < 0.
    poly *= np.float32(0.5)
    phi = np.where(x >= 0, 1.0 - poly, poly)
    phi *= x
    return phi
