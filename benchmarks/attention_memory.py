"""Compiled memory of one training gradient of the transformer, per attention implementation.

XLA's own accounting of the compiled program (`compiled.memory_analysis()`): temporary buffers, i.e. what a
forward and backward pass holds beside parameters, inputs and outputs. Compiles only, runs nothing, so it
works on any backend; on a GPU it answers whether a shape fits before a run is launched.

  python benchmarks/attention_memory.py                                     # T 1024, width 512, batch 8
  python benchmarks/attention_memory.py --width 2048 --batch 64 --attention xla chunked
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=256)
    parser.add_argument("--attention", nargs="+", default=["xla", "chunked"])
    args = parser.parse_args()

    import jax
    import jax.numpy as jnp

    from supercollapse.models.transformer import Transformer

    tokens = jnp.zeros((args.batch, args.seq_len), jnp.int32)
    print(f"| attention | temp MB | width {args.width}, depth {args.depth}, T {args.seq_len}, batch {args.batch}, "
          f"float32, {jax.default_backend()} |")
    print("|---|---|---|")
    for impl in args.attention:
        model = Transformer(jax.random.PRNGKey(0), width=args.width, depth=args.depth, vocab_size=args.vocab,
                            context=args.seq_len, head_dim=args.head_dim, attention=impl)

        def loss(m):
            return jnp.mean(jax.vmap(m)(tokens) ** 2)

        compiled = jax.jit(jax.grad(loss)).lower(model).compile()
        print(f"| {impl} | {compiled.memory_analysis().temp_size_in_bytes / 2**20:,.0f} | |")


if __name__ == "__main__":
    main()
