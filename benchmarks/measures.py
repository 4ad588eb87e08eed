"""Timers and hardware figures the speed benchmarks share: which device a run times, the
median of a few timed calls, this machine's matmul peak and a function's matmul FLOPs.
"""

from __future__ import annotations

import functools
import statistics
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np


@functools.cache
def on_gpu() -> bool:
    """Whether this run times the GPU: JAX's default backend is one and torch sees CUDA."""
    if jax.default_backend() != "gpu":
        return False
    import torch

    return torch.cuda.is_available()


def torch_device() -> str:
    return "cuda" if on_gpu() else "cpu"


def torch_sync() -> None:
    if on_gpu():
        import torch

        torch.cuda.synchronize()


def median_ms(fn: Callable[[], Any], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def matmul_peak(size: int = 4096, reps: int = 5) -> dict:
    """GFLOP/s of one size^3 float32 product in torch and in XLA (best of `reps`), on
    the device the rows run on."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    x, y = jnp.asarray(a.numpy()), jnp.asarray(b.numpy())
    a, b = a.to(torch_device()), b.to(torch_device())
    xla = jax.jit(jnp.matmul)
    flops = 2.0 * size**3
    out = {}
    for name, fn in (("torch", lambda: (a @ b, torch_sync())),
                     ("xla", lambda: xla(x, y).block_until_ready())):
        fn()
        best = min(median_ms(fn, 1) for _ in range(reps))
        out[name] = flops / best / 1e6
    return out


def matmul_flops(fn, *args) -> float:
    """FLOPs of every dot_general in `fn(*args)` (2 x multiply-adds), from its jaxpr."""

    def count(jaxpr):
        total = 0.0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                (contract, _), _ = eqn.params["dimension_numbers"]
                lhs = eqn.invars[0].aval.shape
                total += 2.0 * np.prod(eqn.outvars[0].aval.shape) * np.prod(
                    [lhs[i] for i in contract])
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns"):
                    total += count(inner)
        return total

    return count(jax.make_jaxpr(fn)(*args).jaxpr)
