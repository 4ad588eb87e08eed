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


def inventory_position(inventory: jnp.ndarray) -> jnp.ndarray:
    """On hand plus everything in the pipeline: [..., K] -> [...].

    Summed left to right as K - 1 elementwise adds, not `sum(-1)`: XLA:CPU then fuses
    it with the policy's other elementwise work instead of emitting a separate
    reduction every period (in jaxlib 0.10 a YNNPACK reduce that costs more than the
    rest of a base-stock period).
    """
    total = inventory[..., 0]
    for k in range(1, inventory.shape[-1]):
        total = total + inventory[..., k]
    return total


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
