"""Demand traces and initial states: sampled, user-given, or cut from a sales CSV.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5; SPEC §3.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from invjax.problem import Params, Problem, validate_params


@struct.dataclass
class Scenarios:
    """A batch of independent sample paths of one problem."""

    demand: jnp.ndarray  # [n, T, n_stores]
    store_inventory: jnp.ndarray  # [n, n_stores, store_slots] initial
    warehouse_inventory: jnp.ndarray  # [n, n_warehouses, warehouse_slots] initial
    echelon_inventory: jnp.ndarray  # [n, n_echelons, echelon_slots] initial
    params: Params  # per-scenario parameters, leaves [n, locations or edges]
    past_demand: jnp.ndarray  # [n, n_stores, demand_history] demand before period 0
    ignore_periods: int = struct.field(pytree_node=False, default=0)  # warm-up periods

    @property
    def n(self) -> int:
        return self.demand.shape[0]

    @property
    def periods(self) -> int:
        return self.demand.shape[1]


class Horizon(NamedTuple):
    """Size of one data split: scenarios, periods, and warm-up periods not reported."""

    n: int
    periods: int
    ignore_periods: int


DEFAULT_HORIZONS = {
    "train": Horizon(32_768, 50, 30),
    "dev": Horizon(32_768, 100, 60),
    "test": Horizon(32_768, 5_000, 3_000),
}


def per_scenario(params: Params, n: int) -> Params:
    """Broadcasts instance parameters [locations] to every scenario [n, locations]."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape[-1:]), params)


POISSON_BLOCK = 1 << 20  # Poisson draws per block: bounds the sampler's temporaries


def _poisson(key: jax.Array, mean: jnp.ndarray, n: int) -> jnp.ndarray:
    """Poisson(mean [T, S]) draws [n, T, S], a block of periods at a time.

    `jax.random.poisson` keeps several arrays as large as its output while it runs (a
    key per draw among them): in one piece, the test split (32,768 x 5,000) took 15 GB.
    """
    periods, stores = mean.shape
    block = max(1, min(periods, POISSON_BLOCK // (n * stores)))
    blocks = -(-periods // block)
    padded = jnp.pad(mean, ((0, blocks * block - periods), (0, 0)), constant_values=1.0)

    def draw(i):
        lam = jax.lax.dynamic_slice_in_dim(padded, i * block, block)
        return jax.random.poisson(jax.random.fold_in(key, i), lam, (n, block, stores))

    out = jax.lax.map(draw, jnp.arange(blocks))  # [blocks, n, block, S]
    out = jnp.moveaxis(out, 0, 1).reshape(n, blocks * block, stores)
    return out[:, :periods].astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("n", "periods"))
def sample_demand(problem: Problem, key: jax.Array, n: int, periods: int) -> jnp.ndarray:
    """Samples demand [n, periods, n_stores] from the problem's demand model."""
    s, p = problem.structure, problem.params
    d = s.demand
    t = jnp.arange(periods, dtype=jnp.float32)[:, None]
    season = 1.0 + d.seasonal_amplitude * jnp.sin(2 * math.pi * t / d.seasonal_period)
    mean = p.demand_mean * season  # [T, S]
    if d.distribution == "poisson":
        return _poisson(key, mean, n)
    rho = d.correlation
    corr = (1 - rho) * jnp.eye(s.n_stores) + rho * jnp.ones((s.n_stores, s.n_stores))
    chol = jnp.linalg.cholesky(corr)
    z = jax.random.normal(key, (n, periods, s.n_stores)) @ chol.T
    if d.ar_coefficient:
        phi = d.ar_coefficient
        innovation = math.sqrt(1 - phi**2)

        def ar(prev, z_t):
            e = phi * prev + innovation * z_t
            return e, e

        _, rest = jax.lax.scan(ar, z[:, 0], jnp.swapaxes(z[:, 1:], 0, 1))
        z = jnp.concatenate([z[:, :1], jnp.swapaxes(rest, 0, 1)], axis=1)
    demand = mean + p.demand_std * z
    return jnp.maximum(demand, 0.0) if d.clip else demand


def sample(
    problem: Problem, key: jax.Array, n: int, periods: int, ignore_periods: int = 0,
    start_scale: float = 1.0,
) -> Scenarios:
    """Samples `n` scenarios of `periods` periods, reproducibly from `key`.

    Initial store vectors: every slot ~ U(0, start_scale) x that store's empirical mean
    demand (SPEC §3: start_scale 1; `TrainConfig.train_start_scale` for training traces);
    warehouses and echelons start empty (SPEC §3).
    """
    _check_sizes(n, periods, ignore_periods)
    if not start_scale > 0:
        raise ValueError(f"start_scale: {start_scale!r}; allowed: a number > 0")
    k_demand, k_init = jax.random.split(key)
    demand = sample_demand(problem, k_demand, n, periods)
    s = problem.structure
    store_mean = demand.mean(axis=(0, 1))
    u = jax.random.uniform(k_init, (n, s.n_stores, s.store_slots))
    return Scenarios(
        demand=demand,
        store_inventory=u * store_mean[None, :, None] * start_scale,
        warehouse_inventory=jnp.zeros((n, s.n_warehouses, s.warehouse_slots)),
        echelon_inventory=jnp.zeros((n, s.n_echelons, s.echelon_slots)),
        params=per_scenario(problem.params, n),
        past_demand=jnp.zeros((n, s.n_stores, s.demand_history)),
        ignore_periods=ignore_periods,
    )


def split(
    problem: Problem, key: jax.Array, horizons: dict | None = None, **overrides
) -> dict[str, Scenarios]:
    """Independent train/dev/test scenario sets, each with its horizon and warm-up.

    Args:
      problem: the problem.
      key: a typed PRNG key.
      horizons: {split: Horizon or (n, periods, ignore_periods)}; defaults to SPEC §3.
      **overrides: per split, e.g. `test=(1024, 500, 100)`.
    """
    horizons = {**DEFAULT_HORIZONS, **(horizons or {}), **overrides}
    keys = jax.random.split(key, len(horizons))
    return {
        name: sample(problem, k, *Horizon(*h)) for (name, h), k in zip(horizons.items(), keys)
    }


def from_arrays(
    problem: Problem,
    demand,
    store_inventory,
    warehouse_inventory=None,
    echelon_inventory=None,
    *,
    params: Params | None = None,
    past_demand=None,
    ignore_periods: int = 0,
) -> Scenarios:
    """Scenarios from user data: demand [n, T, n_stores] and initial inventories.

    Args:
      params: optional per-scenario parameters (leaves [n, locations or edges]), e.g.
        to give every scenario its own lead times; defaults to the problem's.
      past_demand: optional [n, n_stores, demand_history] demand before period 0
        (zeros by default).
    """
    s = problem.structure
    demand = np.asarray(demand, dtype=np.float32)
    if demand.ndim != 3 or demand.shape[2] != s.n_stores:
        raise ValueError(f"demand: expected shape [n, T, {s.n_stores}], got {demand.shape}")
    n, periods = demand.shape[:2]
    _check_sizes(n, periods, ignore_periods)
    if not np.all(np.isfinite(demand)):
        raise ValueError("demand: contains NaN or infinite values; all must be finite")
    if s.lost_demand and demand.min() < 0:
        raise ValueError(f"demand: must be >= 0 for lost-demand problems, min {demand.min()}")
    shapes = {
        "store_inventory": (store_inventory, (n, s.n_stores, s.store_slots)),
        "warehouse_inventory": (warehouse_inventory, (n, s.n_warehouses, s.warehouse_slots)),
        "echelon_inventory": (echelon_inventory, (n, s.n_echelons, s.echelon_slots)),
        "past_demand": (past_demand, (n, s.n_stores, s.demand_history)),
    }
    arrays = {}
    for field, (value, shape) in shapes.items():
        value = np.zeros(shape, np.float32) if value is None else np.asarray(value, np.float32)
        if value.shape != shape:
            raise ValueError(f"{field}: expected shape {list(shape)}, got {list(value.shape)}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{field}: contains NaN or infinite values")
        arrays[field] = jnp.asarray(value)
    if params is None:
        params = per_scenario(problem.params, n)
    else:
        for field in params.__dataclass_fields__:
            shape = tuple(np.shape(getattr(params, field)))
            if shape != (n, s.count(field)):
                raise ValueError(f"params.{field}: expected shape {[n, s.count(field)]}, "
                                 f"got {list(shape)}")
        validate_params(s, params)
    return Scenarios(
        demand=jnp.asarray(demand), params=params, ignore_periods=ignore_periods, **arrays
    )


def from_csv(
    problem: Problem,
    path,
    window: int,
    stride: int | None = None,
    *,
    ignore_periods: int = 0,
    key: jax.Array | None = None,
) -> Scenarios:
    """Cuts a sales history (`invjax.sales.history.read_csv`: long or wide layout, its
    rules for missing dates and returns) into windows of `window` periods, one scenario
    each; the file's series are the problem's stores, in file order. For the real-data
    workflow (train/dev/test windows, profit mode, newsvendor baselines) see
    `invjax.sales.compare`.

    Initial store inventory: each slot U(0, 1) x the store's mean sales (constant
    mean/2 when `key` is None).
    """
    from invjax.sales.history import read_csv  # the one CSV reader

    s = problem.structure
    history = read_csv(path)
    table = history.sales
    if table.shape[1] != s.n_stores:
        raise ValueError(f"{path}: expected {s.n_stores} series (the problem's stores), "
                         f"got {table.shape[1]}")
    stride = stride or window
    if window < 1 or stride < 1 or table.shape[0] < window:
        raise ValueError(
            f"window: must be in 1..{table.shape[0]} (periods of {path}), got {window}"
        )
    first = int(history.start.max())  # every series has data from here on
    starts = range(first, table.shape[0] - window + 1, stride)
    if not starts:
        late = history.series[int(history.start.argmax())]
        raise ValueError(f"window: {window} periods; series {late!r} is too short (it has "
                         f"{table.shape[0] - first} periods of data)")
    demand = np.stack([table[i : i + window] for i in starts])
    mean = table[first:].mean(axis=0)
    n = demand.shape[0]
    if key is None:
        u = np.full((n, s.n_stores, s.store_slots), 0.5)
    else:
        u = np.asarray(jax.random.uniform(key, (n, s.n_stores, s.store_slots)))
    return from_arrays(problem, demand, u * mean[None, :, None], ignore_periods=ignore_periods)


def _check_sizes(n: int, periods: int, ignore_periods: int) -> None:
    if n < 1:
        raise ValueError(f"n: number of scenarios must be >= 1, got {n}")
    if periods < 1:
        raise ValueError(f"periods: must be >= 1, got {periods}")
    if not 0 <= ignore_periods < periods:
        raise ValueError(f"ignore_periods: must lie in 0..{periods - 1}, got {ignore_periods}")
