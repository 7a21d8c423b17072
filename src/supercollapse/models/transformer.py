"""The paper's decoder-only transformer for next-token prediction, under µP (DESIGN §3).

h = E[x_t] + P[t];  for each of `depth` blocks:
    h += (3 / depth) * W_o attn(rmsnorm(h));   h += (3 / depth) * W2 gelu(W1 rmsnorm(h));
logits = W_readout rmsnorm(h).
Pre-norm, RMSNorm without a learnable gain, no biases, learned absolute positions, causal multi-head
attention with a fixed head dimension (64 in the paper: the number of heads grows with width) and a
parameter-free RMSNorm on q and k, a GeLU MLP of hidden width expansion * width, untied readout.

Attention logits are scaled by 1/sqrt(head_dim). µP asks for 1/head_dim when the head dimension grows with
width; here it is fixed, so the two differ by a width-independent constant, and with q and k normalised the
logits are O(1) at any width either way.

Initialisation (µP): token and position embeddings N(0, 0.1^2); the q, k, v projections and the MLP's
first matrix N(0, 1/fan_in); the attention output, the MLP output and the readout zero, so the initial
model predicts the uniform distribution. Layer weights are stacked along a leading `depth` axis so that a
per-parameter learning rate stays one number per array (models/mup.py).

Attention implementations: `xla` is plain XLA ops (causal_attention: jax.nn.dot_product_attention's xla maths
written as two einsums, faster on the CPU), `cudnn` is jax.nn.dot_product_attention's fused kernel (NVIDIA
GPUs, bf16/fp16 only). `chunked` is ours, for float32 at long sequences: queries in blocks of ATTENTION_CHUNK,
each block's scores against every key computed, used and dropped, and recomputed in the backward pass
(jax.checkpoint), so memory grows as T x chunk per head instead of T x T. Same maths as `xla` (tested to
float32 rounding).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .mlp import rmsnorm

EMBED_STD = 0.1
ATTENTION_IMPLEMENTATIONS = ("xla", "cudnn", "chunked")
ATTENTION_CHUNK = 128  # queries per block of the chunked attention


def causal_attention(q_TxHxd: jax.Array, k_TxHxd: jax.Array, v_TxHxd: jax.Array) -> jax.Array:
    """Causal softmax attention with logits scaled by 1/sqrt(d), as two einsums (implementation `xla`).

    The maths of jax.nn.dot_product_attention(implementation="xla"), written out: the same forward values (to
    the bit on the CPU, measured), and on the CPU a backward pass 1.7x faster at the default's sizes (2.9 ->
    1.7 ms for 64 sequences of 31 tokens, 4 heads of 8), where the library's form transposes more."""
    T, _, d = q_TxHxd.shape
    s_HxTxT = jnp.einsum("ihd,jhd->hij", q_TxHxd, k_TxHxd) * jnp.asarray(1.0 / math.sqrt(d), q_TxHxd.dtype)
    causal_TxT = jnp.tril(jnp.ones((T, T), dtype=bool))
    p_HxTxT = jax.nn.softmax(jnp.where(causal_TxT[None], s_HxTxT, -jnp.inf), axis=-1)
    return jnp.einsum("hij,jhd->ihd", p_HxTxT, v_TxHxd)


def chunked_causal_attention(q_TxHxd: jax.Array, k_TxHxd: jax.Array, v_TxHxd: jax.Array,
                             chunk: int = ATTENTION_CHUNK) -> jax.Array:
    """Causal softmax attention with logits scaled by 1/sqrt(d), one block of `chunk` queries at a time.

    Each block is rematerialised in the backward pass, so neither pass holds a T x T score matrix. T need not
    be a multiple of `chunk` (the last block is padded with queries whose outputs are dropped)."""
    T, H, d = q_TxHxd.shape
    c = min(chunk, T)
    n = -(-T // c)
    q_NxcxHxd = jnp.pad(q_TxHxd, ((0, n * c - T), (0, 0), (0, 0))).reshape(n, c, H, d)
    scale = 1.0 / math.sqrt(d)
    key_pos_T = jnp.arange(T)

    @jax.checkpoint
    def block(args):
        q_cxHxd, start = args
        s_HxcxT = jnp.einsum("chd,thd->hct", q_cxHxd, k_TxHxd) * scale
        causal_cxT = (start + jnp.arange(c))[:, None] >= key_pos_T[None, :]
        p_HxcxT = jax.nn.softmax(jnp.where(causal_cxT[None], s_HxcxT, -jnp.inf), axis=-1)
        return jnp.einsum("hct,thd->chd", p_HxcxT, v_TxHxd)

    o_NxcxHxd = jax.lax.map(block, (q_NxcxHxd, jnp.arange(n) * c))
    return o_NxcxHxd.reshape(n * c, H, d)[:T]


class Transformer(eqx.Module):
    embed_VxD: jax.Array
    pos_embed_LxD: jax.Array
    qkv_Nx3DxD: jax.Array  # rows: q, k, v projections, each D x D (out x in)
    attn_out_NxDxD: jax.Array
    w1_NxHxD: jax.Array
    w2_NxDxH: jax.Array
    readout_VxD: jax.Array
    head_dim: int = eqx.field(static=True)
    residual_mult: float = eqx.field(static=True)
    attention: str = eqx.field(static=True)

    def __init__(self, key: jax.Array, width: int, depth: int, vocab_size: int, context: int,
                 expansion: int = 1, head_dim: int = 64, attention: str = "xla"):
        """`context`: the longest input the model sees (positions 0 .. context-1), seq_len - 1 for rows of
        seq_len tokens. `attention`: the implementation passed to `jax.nn.dot_product_attention`."""
        check_shape(width, head_dim)
        if attention not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention must be one of {ATTENTION_IMPLEMENTATIONS}, got {attention!r}")
        for name, value in (("depth", depth), ("vocab_size", vocab_size), ("context", context),
                            ("expansion", expansion)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        hidden = expansion * width
        k_embed, k_pos, k_qkv, k_w1 = jax.random.split(key, 4)
        self.embed_VxD = EMBED_STD * jax.random.normal(k_embed, (vocab_size, width))
        self.pos_embed_LxD = EMBED_STD * jax.random.normal(k_pos, (context, width))
        self.qkv_Nx3DxD = jax.random.normal(k_qkv, (depth, 3 * width, width)) / math.sqrt(width)
        self.attn_out_NxDxD = jnp.zeros((depth, width, width))
        self.w1_NxHxD = jax.random.normal(k_w1, (depth, hidden, width)) / math.sqrt(width)
        self.w2_NxDxH = jnp.zeros((depth, width, hidden))
        self.readout_VxD = jnp.zeros((vocab_size, width))
        self.head_dim = head_dim
        self.residual_mult = 3.0 / depth
        self.attention = attention

    def __call__(self, tokens_T: jax.Array) -> jax.Array:
        """Logits (T, V) of the next token at every position of one sequence of T <= context token ids."""
        return self._forward(tokens_T, trace=False)[0]

    def activations(self, tokens_T: jax.Array) -> dict[str, jax.Array]:
        """The activations of one sequence, for the µP coordinate check: `embed` (T, D), per block (a
        leading depth axis) `attn` and `mlp` (the residual branches before the multiplier) and `residual`
        (the stream after the block), and `logits` (T, V)."""
        logits, trace = self._forward(tokens_T, trace=True)
        return {**trace, "logits": logits}

    def _forward(self, tokens_T, trace: bool):
        T = tokens_T.shape[0]
        D = self.embed_VxD.shape[1]
        H, d = D // self.head_dim, self.head_dim
        h_TxD = self.embed_VxD[tokens_T] + self.pos_embed_LxD[:T]

        def attend(x_TxD, qkv_3DxD):
            q_TxHxd, k_TxHxd, v_TxHxd = (x_TxD @ qkv_3DxD.T).reshape(T, 3, H, d).transpose(1, 0, 2, 3)
            q_TxHxd, k_TxHxd = rmsnorm(q_TxHxd), rmsnorm(k_TxHxd)
            if self.attention == "chunked":
                o_TxHxd = chunked_causal_attention(q_TxHxd, k_TxHxd, v_TxHxd)
            elif self.attention == "xla":
                o_TxHxd = causal_attention(q_TxHxd, k_TxHxd, v_TxHxd)
            else:
                o_TxHxd = jax.nn.dot_product_attention(q_TxHxd, k_TxHxd, v_TxHxd, is_causal=True,
                                                       implementation=self.attention)
            return o_TxHxd.reshape(T, D)

        def block(h_TxD, weights):
            qkv_3DxD, out_DxD, w1_HxD, w2_DxH = weights
            a_TxD = attend(rmsnorm(h_TxD), qkv_3DxD) @ out_DxD.T
            h_TxD = h_TxD + self.residual_mult * a_TxD
            m_TxD = jax.nn.gelu(rmsnorm(h_TxD) @ w1_HxD.T) @ w2_DxH.T
            h_TxD = h_TxD + self.residual_mult * m_TxD
            return h_TxD, ({"attn": a_TxD, "mlp": m_TxD, "residual": h_TxD} if trace else None)

        weights = (self.qkv_Nx3DxD, self.attn_out_NxDxD, self.w1_NxHxD, self.w2_NxDxH)
        h_TxD, per_block = jax.lax.scan(block, h_TxD, weights, unroll=True)  # as in mlp.MLP
        logits_TxV = rmsnorm(h_TxD) @ self.readout_VxD.T
        if not trace:
            return logits_TxV, None
        embed_TxD = self.embed_VxD[tokens_T] + self.pos_embed_LxD[:T]
        return logits_TxV, {"embed": embed_TxD, **per_block}


def check_shape(width: int, head_dim: int) -> None:
    """Attention splits the width into heads of `head_dim`: raise unless it divides the width."""
    if head_dim < 1 or width < 1 or width % head_dim:
        raise ValueError(f"transformer width {width} must be a positive multiple of model.head_dim {head_dim} "
                         "(the paper's head_dim is 64; CPU-sized widths need a smaller head_dim)")
