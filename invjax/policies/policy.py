"""The policy interface and the small pieces that policies share.

A policy is any object with `init(key) -> params` and `apply(params, observation) ->
Action`, where `observation` is the batched `State` (leading axis: scenarios) and
`params` a pytree. Keep the object hashable (functions, not arrays, in its fields): it
is a static argument of the jitted rollout, so reusing one object compiles once.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class Policy(NamedTuple):
    """A pair of pure functions."""

    init: Callable[[jax.Array], Any]  # key -> params
    apply: Callable[[Any, Any], Any]  # (params, observation) -> Action


def inverse_softplus(y):
    """x with softplus(x) = y (y > 0), stable for large y."""
    y = jnp.asarray(y, jnp.float32)
    return y + jnp.log(-jnp.expm1(-y))


def sum_last(x: jnp.ndarray) -> jnp.ndarray:
    """x.sum(-1) for a short last axis, as elementwise adds left to right.

    XLA:CPU fuses the adds with a policy's other elementwise work; `sum(-1)` became a
    separate reduction every period (in jaxlib 0.10 a YNNPACK reduce that costs more
    than the rest of a base-stock period).
    """
    total = x[..., 0]
    for k in range(1, x.shape[-1]):
        total = total + x[..., k]
    return total


def inventory_position(inventory: jnp.ndarray) -> jnp.ndarray:
    """On hand plus everything in the pipeline: [..., K] -> [...]."""
    return sum_last(inventory)


def proportional_allocation(desired: jnp.ndarray, available: jnp.ndarray, *, exact=False):
    """Scales desired store orders [n, S] so they never exceed the on-hand [n].

    With `exact`, all of `available` is allocated in proportion to `desired`
    (a transshipment centre keeps nothing).

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6.
    """
    available = jax.nn.relu(available)  # float residue can leave -1e-8 on hand
    total = desired.sum(-1, keepdims=True)
    ratio = available[:, None] / (total + 1e-15)
    return desired * (ratio if exact else jnp.minimum(1.0, ratio))
