"""The symmetry-aware policy for one-warehouse networks (the paper's architecture).

A context net reads the whole state (all store vectors, then the warehouse vector,
flattened) and outputs a context vector through a sigmoid. The warehouse net reads
(warehouse vector, context) and orders sigmoid x 4 x (sum of store means). One store
net, with the same weights for every store, reads (own inventory vector, own mean, std,
underage cost, lead time, context) and outputs a desired order through a softplus; the
warehouse on-hand is then allocated in proportion (all of it for transshipment).

Symmetry: the only per-store parameters are the rows of the context net's input layer
that read each store's vector. Relabelling the stores of both the state and those rows
(`permute_stores`) permutes the store orders and leaves the warehouse order unchanged.

Factored first layer: the store net's first layer is one Dense kernel over
[own features (F), context (C)]; the context block W_c @ context is the same for every
store, so it is computed once per scenario and broadcast over stores
(`first_layer_macs`): S x (F + C) x H multiply-adds per scenario become
S x F x H + C x H. `factored=False` concatenates the context to every store's input
instead, with the same parameter pytree.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §4.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from invjax.dynamics import Action, State
from invjax.policies.neural import (
    MLP,
    STORE_FEATURES,
    activation_fn,
    as_widths,
    per_store_features,
    saved_if_wide,
    supplier_cap,
    total_mean,
)
from invjax.policies.policy import Policy, proportional_allocation
from invjax.problem import Problem, Structure


def first_layer_macs(n_stores: int, store_inputs: int, context_size: int, width: int,
                     factored: bool = True) -> int:
    """Multiply-adds per scenario of the store net's first layer (shared weights).

    Naive: S x (F + C) x H. Factored: S x F x H + C x H, a saving of (S - 1) x C x H;
    the context part drops from S x C x H to C x H.
    """
    context = context_size * width * (1 if factored else n_stores)
    return n_stores * store_inputs * width + context


class StoreDense(nn.Module):
    """Dense layer applied along the stores axis: one kernel for all stores (`stack`
    = 0) or one per store (`stack` = S). Called with `context`, it is the first layer
    over [own features, context], factored or naive."""

    features: int
    stack: int = 0

    @nn.compact
    def __call__(self, x, context=None, factored=True):  # x [n, S, F], context [n, C]
        batch = (self.stack,) if self.stack else ()
        fan_in = x.shape[-1] + (0 if context is None else context.shape[-1])
        init = nn.initializers.lecun_normal(batch_axis=(0,) if self.stack else ())
        kernel = self.param("kernel", init, batch + (fan_in, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), batch + (self.features,))
        pattern = "nsf,sfh->nsh" if self.stack else "nsf,fh->nsh"
        if context is None:
            return jnp.einsum(pattern, x, kernel) + bias
        if not factored:
            tiled = jnp.broadcast_to(context[:, None, :], x.shape[:2] + context.shape[-1:])
            return jnp.einsum(pattern, jnp.concatenate([x, tiled], -1), kernel) + bias
        f = x.shape[-1]
        own = jnp.einsum(pattern, x, kernel[..., :f, :])
        if self.stack:  # one context block per store: nothing to share
            shared = jnp.einsum("nc,sch->nsh", context, kernel[..., f:, :])
        else:  # once per scenario, broadcast over stores
            shared = saved_if_wide(context @ kernel[f:, :], context.shape[-1])[:, None, :]
        return own + shared + bias


class StoreNet(nn.Module):
    """Per-store MLP over [own features, context]; the last layer is linear."""

    features: tuple[int, ...]
    activation: str
    stack: int = 0
    factored: bool = True

    @nn.compact
    def __call__(self, x, context):
        act = activation_fn(self.activation)
        for i, width in enumerate(self.features):
            layer = StoreDense(width, self.stack, name=f"layers_{i}")
            x = layer(x, context, self.factored) if i == 0 else layer(x)
            if i < len(self.features) - 1:
                x = act(x)
        return x


class SymmetryAwareNet(nn.Module):
    """Context, warehouse and store nets; returns (warehouse out [n, 1], store out [n, S])."""

    context_size: int
    context_hidden: tuple[int, ...]
    store_hidden: tuple[int, ...]
    warehouse_hidden: tuple[int, ...]
    activation: str
    stack: int
    factored: bool

    @nn.compact
    def __call__(self, context_in, warehouse_in, store_in):
        context_net = MLP(self.context_hidden + (self.context_size,), self.activation,
                          name="context")
        context = jax.nn.sigmoid(context_net(context_in))
        warehouse_net = MLP(self.warehouse_hidden + (1,), self.activation, name="warehouse")
        warehouse = warehouse_net(jnp.concatenate([warehouse_in, context], -1))
        store_net = StoreNet(self.store_hidden + (1,), self.activation, self.stack,
                             self.factored, name="store")
        return warehouse, store_net(store_in, context)[..., 0]


def _inputs(obs: State, scaled: bool):
    """(context input [n, S*slots + slots], warehouse input [n, slots], store input
    [n, S, slots + features]). With `scaled`, the context and warehouse nets read each
    store's inventories in units of its own mean demand and the warehouse's in units of
    the sum of the means; the store net always reads its own raw inventories."""
    n = obs.store_inventory.shape[0]
    store = obs.store_inventory.astype(jnp.float32)
    warehouse = obs.warehouse_inventory[:, 0, :].astype(jnp.float32)
    store_in = jnp.concatenate([store, per_store_features(obs)], -1)
    if scaled:
        mean = obs.params.demand_mean.astype(jnp.float32)  # [n, S]
        store = store / mean[..., None]
        warehouse = warehouse / total_mean(obs).astype(jnp.float32)
    context_in = jnp.concatenate([store.reshape(n, -1), warehouse], -1)
    return context_in, warehouse, store_in


@functools.cache
def _symmetry_aware(s: Structure, context_size, context_hidden, store_hidden,
                    warehouse_hidden, activation, shared, factored, scaled) -> Policy:
    net = SymmetryAwareNet(context_size, context_hidden, store_hidden, warehouse_hidden,
                           activation, 0 if shared else s.n_stores, factored)
    context_width = s.n_stores * s.store_slots + s.warehouse_slots
    store_width = s.store_slots + len(STORE_FEATURES)

    @jax.jit
    def init(key):
        return net.init(
            key,
            jnp.zeros((1, context_width), jnp.float32),
            jnp.zeros((1, s.warehouse_slots), jnp.float32),
            jnp.zeros((1, s.n_stores, store_width), jnp.float32),
        )

    def apply(params, obs: State) -> Action:
        warehouse_out, store_out = net.apply(params, *_inputs(obs, scaled))
        desired = jax.nn.softplus(store_out)
        on_hand = jax.nn.relu(obs.warehouse_inventory[:, 0, 0])
        stores = proportional_allocation(desired, on_hand, exact=s.transshipment)
        return Action(stores=stores, warehouses=jax.nn.sigmoid(warehouse_out) * supplier_cap(obs))

    return Policy(init, apply)


def symmetry_aware(
    problem: Problem,
    context_size: int = 256,
    context_hidden: Sequence[int] = (256,),
    store_hidden: Sequence[int] = (64, 64),
    warehouse_hidden: Sequence[int] = (64,),
    activation: str = "elu",
    shared: bool = True,
    factored: bool = True,
    scale_inputs: bool = True,
) -> Policy:
    """The symmetry-aware policy of the paper for one-warehouse networks.

    Args:
      problem: a one-warehouse network (one_warehouse, transshipment).
      context_size: width of the context vector (sigmoid outputs).
      context_hidden, store_hidden, warehouse_hidden: hidden widths of the three nets.
      activation: name in `invjax.policies.neural.ACTIVATIONS`.
      shared: one store net for all stores (True) or one per store (the ablation).
      factored: compute the context's share of the store net's first layer once per
        scenario (same parameters and outputs as `factored=False`, fewer FLOPs).
      scale_inputs: the context and warehouse nets read inventories in units of mean
        demand (see `_inputs`). Raw inputs grow with the number of stores and saturate
        the context's sigmoid: at 50 stores, 320 steps reached a test cost of 18.3 per
        store-period raw and 6.2 scaled.

    Returns:
      A cached `Policy`; `params` is the Linen variables dict with sub-trees
      "context", "warehouse" and "store".

    Raises:
      ValueError: a network other than one warehouse without echelons, or bad sizes.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §4.
    """
    s = problem.structure if isinstance(problem, Problem) else problem
    if s.n_warehouses != 1 or s.n_echelons != 0:
        raise ValueError(
            f"symmetry_aware: does not fit setting {s.name!r}; it is for one-warehouse "
            "networks without echelons (one_warehouse, transshipment)"
        )
    activation_fn(activation)
    (context_size,) = as_widths((context_size,), "context_size")
    return _symmetry_aware(
        s, context_size, as_widths(context_hidden, "context_hidden"),
        as_widths(store_hidden, "store_hidden"), as_widths(warehouse_hidden, "warehouse_hidden"),
        activation, bool(shared), bool(factored), bool(scale_inputs),
    )


def permute_stores(params: Any, permutation, structure: Structure) -> Any:
    """Relabels the stores of symmetry-aware parameters: new store j reads what old
    store permutation[j] read.

    With states permuted the same way (store_inventory[:, permutation] and every
    per-store param field), apply(permute_stores(params, perm), permuted state) equals
    apply(params, state) with store orders [:, permutation] and the same warehouse order.
    Only the context net's input rows move (and the per-store stacks when not shared).
    """
    perm = np.asarray(permutation)
    s = structure
    layer = dict(params["params"]["context"]["layers_0"])
    kernel = layer["kernel"]
    rows = s.n_stores * s.store_slots
    store_rows = kernel[:rows].reshape(s.n_stores, s.store_slots, -1)[perm]
    layer["kernel"] = jnp.concatenate([store_rows.reshape(rows, -1), kernel[rows:]], 0)
    inner = dict(params["params"])
    inner["context"] = {**inner["context"], "layers_0": layer}
    if inner["store"]["layers_0"]["kernel"].ndim == 3:  # one net per store [S, in, out]
        inner["store"] = jax.tree.map(lambda x: x[perm], inner["store"])
    return {**params, "params": inner}
