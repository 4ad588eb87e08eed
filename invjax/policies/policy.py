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

from invjax.dynamics import sum_last


class Policy(NamedTuple):
    """A pair of pure functions."""

    init: Callable[[jax.Array], Any]  # key -> params
    apply: Callable[[Any, Any], Any]  # (params, observation) -> Action


def inverse_softplus(y):
    """x with softplus(x) = y (y > 0), stable for large y."""
    y = jnp.asarray(y, jnp.float32)
    return y + jnp.log(-jnp.expm1(-y))


def inventory_position(inventory: jnp.ndarray) -> jnp.ndarray:
    """On hand plus everything in the pipeline: [..., K] -> [...]."""
    return sum_last(inventory)


def share(on_hand: jnp.ndarray, total: jnp.ndarray, *, exact=False) -> jnp.ndarray:
    """max(on_hand, 0) / total, and 0 where nothing is wanted (total below
    `least_wanted`): the factor that scales a location's desired outbound flows to its
    on-hand. Capped at 1 unless `exact` (a bool, or an array broadcast against the
    factor): a location that keeps no stock ships all it holds, the others at most what
    is wanted.

    Float residue can leave -1e-8 on hand, hence the max. Exact however small the total:
    a transshipment centre whose desired flows are all ~1e-14 still ships all it holds
    (dividing by total + 1e-15 shipped 1.5% less in the case found). The inner `where`
    keeps the gradient finite where nothing is wanted.
    """
    on_hand = jax.nn.relu(on_hand)
    wanted = total >= least_wanted(on_hand)
    ratio = jnp.where(wanted, on_hand / jnp.where(wanted, total, 1.0), 0.0)
    return jnp.where(exact, ratio, jnp.minimum(1.0, ratio))


def least_wanted(on_hand: jnp.ndarray) -> jnp.ndarray:
    """The least total of desired flows that `share` divides by: sqrt(max(on_hand, 1) x
    the dtype's smallest normal number), 1e-19 to 1e-16 units in float32. Below it the
    factor on_hand / total, or its derivative on_hand / total^2, would overflow: a
    transshipment centre holding 200 whose stores wanted 1e-37 in all (softplus of -85)
    shipped inf and NaN (found in a one-step-trained symmetry-aware net, n = 10)."""
    tiny = jnp.finfo(jnp.result_type(on_hand, jnp.float32)).tiny
    return jnp.sqrt(jnp.maximum(on_hand, 1.0) * tiny)


def proportional_allocation(desired: jnp.ndarray, available: jnp.ndarray, *, exact=False):
    """Scales desired store orders [n, S] so they never exceed the on-hand [n].

    With `exact`, all of `available` is allocated in proportion to `desired`
    (a transshipment centre keeps nothing).

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6.
    """
    return desired * share(available[:, None], desired.sum(-1, keepdims=True), exact=exact)


_FLOW_FIELDS = {"store": "stores", "warehouse": "warehouses", "echelon": "echelons"}


def on_hand(obs, name: str, network) -> jnp.ndarray:
    """On-hand [n] of location `name` in the batched observation."""
    kind, i = network.index(name)
    return getattr(obs, f"{kind}_inventory")[:, i, 0]


def allocate(network, obs, desired):
    """Makes desired flows feasible: every supplying location's outbound flows are scaled
    in proportion so that they never exceed its on-hand (SPEC §7); a location that
    keeps no stock (transshipment centre) ships all of it. Supplier edges are unchanged.

    Args:
      network: the problem's `invjax.network.Network`.
      obs: the batched `State`.
      desired: an `Action` of nonnegative desired flows ([n, edges] per kind; `None`
        for a kind without edges).

    Returns:
      An `Action` of feasible flows. Where one location supplies a contiguous run of
      edges (every setting of the paper), this is `proportional_allocation` on it.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §7.
    """
    # Per group: a list of (start, stop, source) runs covering its edges in order.
    scaled = {}
    for kind, field in _FLOW_FIELDS.items():
        flows = getattr(desired, field)
        edges = network.edges_into(kind)
        if flows is None or not edges:
            scaled[field] = flows
            continue
        parts, start = [], 0
        for j in range(1, len(edges) + 1):
            if j < len(edges) and edges[j].source == edges[start].source:
                continue
            run, source = flows[:, start:j], edges[start].source
            if source != "supplier":
                keeps = network.location(source).keeps_stock
                run = _scale_run(network, obs, desired, source, run, exact=not keeps)
            parts.append(run)
            start = j
        scaled[field] = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)
    return type(desired)(**scaled)


def _scale_run(network, obs, desired, source, run, *, exact):
    """Scales one run of `source`'s edges by that source's on-hand over all its flows."""
    outbound = network.outbound(source)
    if len(outbound) == run.shape[-1]:  # the run is all of the source's edges
        return proportional_allocation(run, on_hand(obs, source, network), exact=exact)
    total = sum(getattr(desired, _FLOW_FIELDS[g])[:, j] for g, j in outbound)
    return run * share(on_hand(obs, source, network), total, exact=exact)[:, None]
