"""Vanilla and symmetry-aware neural policies: shapes, feasibility, differentiability,
store-permutation symmetry, factored vs naive first layer, parameter counts, caching.

Small nets and a few scenarios, so the whole file runs in seconds on a CPU.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import invjax
from invjax.policies.neural import n_parameters, vanilla
from invjax.policies.store_layers import first_layer_macs
from invjax.policies.symmetry_aware import permute_stores, symmetry_aware

N, PERIODS = 4, 16
SMALL_SA = dict(context_size=16, context_hidden=(16,), store_hidden=(8, 8),
                warehouse_hidden=(8,))
STORE_FIELDS = ("holding_cost", "underage_cost", "lead_time", "demand_mean", "demand_std")
_sample = jax.jit(invjax.scenarios.sample, static_argnums=(2, 3))


@pytest.fixture(autouse=True)
def key_reuse_checks():
    previous = jax.config.jax_debug_key_reuse
    jax.config.update("jax_debug_key_reuse", True)
    yield
    jax.config.update("jax_debug_key_reuse", previous)


def _state(problem, key, n=N, stocked_warehouse=True):
    """A sampled initial state; warehouses/echelons get positive on-hand if asked."""
    k_scen, k_w, k_e = jax.random.split(key, 3)
    scenarios = _sample(problem, k_scen, n, PERIODS)
    state = invjax.Env(problem).reset(scenarios)
    if stocked_warehouse:
        state = state.replace(
            warehouse_inventory=20 * jax.random.uniform(k_w, state.warehouse_inventory.shape),
            echelon_inventory=20 * jax.random.uniform(k_e, state.echelon_inventory.shape),
        )
    return scenarios, state


def _check_feasible(problem, state, policy, params):
    """Flows per edge group, finite and >= 0; supplier edges below 4 x the sum of
    means; no location ships more than its on-hand; a transshipment centre all of it."""
    action = jax.jit(policy.apply)(params, state)
    net = problem.structure.network
    n = state.store_inventory.shape[0]
    groups = {"store": action.stores, "warehouse": action.warehouses,
              "echelon": action.echelons}
    cap = 4 * state.params.demand_mean.sum(-1)
    for kind, flows in groups.items():
        edges = net.edges_into(kind)
        if not edges:
            assert flows is None or flows.shape == (n, 0)
            continue
        assert flows.shape == (n, len(edges))
        assert np.all(np.isfinite(flows)) and np.all(flows >= 0)
        if kind != "store" or net.count("warehouse"):
            for j, e in enumerate(edges):
                if e.source == "supplier":
                    assert np.all(flows[:, j] <= cap + 1e-4)
    for loc in net.suppliers():
        kind, i = net.index(loc.name)
        held = getattr(state, f"{kind}_inventory")[:, i, 0]
        shipped = sum(groups[g][:, j] for g, j in net.outbound(loc.name))
        assert np.all(shipped <= held + 1e-5)
        if not loc.keeps_stock:
            np.testing.assert_allclose(shipped, held, rtol=1e-5, atol=1e-5)


def _grad_check(problem, policy, params, scenarios):
    loss = lambda p: invjax.hindsight_cost(problem, policy, p, scenarios)
    grads = jax.grad(loss)(params)
    flat = jnp.concatenate([g.ravel() for g in jax.tree.leaves(grads)])
    assert np.all(np.isfinite(flat)) and float(jnp.abs(flat).sum()) > 0
    return grads


@pytest.mark.parametrize("name", invjax.settings.names())
def test_vanilla_orders_are_feasible_and_differentiable(name):
    problem = invjax.settings.make(name)
    policy = vanilla(problem, hidden=(8, 8))
    k_init, k_state = jax.random.split(jax.random.key(0))
    params = policy.init(k_init)
    scenarios, state = _state(problem, k_state)
    _check_feasible(problem, state, policy, params)

    def loss(p):  # hindsight_cost, keeping the recorded trajectory (one compile)
        result = invjax.simulate(problem, policy, p, scenarios, 0, record=True)
        return result.mean_cost, result

    grads, result = jax.grad(loss, has_aux=True)(params)
    assert np.isfinite(result.mean_cost)
    final = result.final_state
    assert np.all(final.warehouse_inventory[..., 0] >= -1e-4)
    assert np.all(final.echelon_inventory[..., 0] >= -1e-4)
    if problem.structure.lost_demand:
        assert np.all(final.store_inventory >= 0)
    for leaf in jax.tree.leaves(result.actions):
        assert np.all(np.isfinite(leaf)) and np.all(leaf >= 0)
    flat = jnp.concatenate([g.ravel() for g in jax.tree.leaves(grads)])
    assert np.all(np.isfinite(flat)) and float(jnp.abs(flat).sum()) > 0
    head = grads["params"]["layers_2"]["kernel"]  # every output column gets a gradient
    assert np.all(np.abs(head).sum(0) > 0)


def test_vanilla_any_depth_and_store_features():
    problem = invjax.settings.make("one_warehouse", seed=1)  # 3 stores
    k_state, *keys = jax.random.split(jax.random.key(0), 3)
    _, state = _state(problem, k_state)
    for (hidden, features), key in zip((((), False), ((8, 8, 8, 8), True)), keys):
        policy = vanilla(problem, hidden=hidden, store_features=features)
        params = policy.init(key)
        assert len(params["params"]) == len(hidden) + 1
        _check_feasible(problem, state, policy, params)
    features = jax.eval_shape(vanilla(problem, hidden=(8,), store_features=True).init, key)
    plain = jax.eval_shape(vanilla(problem, hidden=(8,)).init, key)
    extra = features["params"]["layers_0"]["kernel"].shape[0]
    assert extra - plain["params"]["layers_0"]["kernel"].shape[0] == 3 * 4  # 4 per store


@pytest.mark.parametrize("name", ["one_warehouse", "transshipment"])
def test_vanilla_warehouse_net_reads_inventories_in_units_of_total_mean(name):
    """Scaling every inventory and every store mean by c scales the orders by c (the net
    sees inventories over the sum of store means; the heads scale with on-hand and mean),
    and an untrained net's orders are not saturated at 0 or at the supplier cap."""
    problem = invjax.settings.make(name, seed=1)
    k_state, k_init = jax.random.split(jax.random.key(0))
    _, state = _state(problem, k_state)
    policy = vanilla(problem, hidden=(16, 16))
    params = policy.init(k_init)
    c = 7.0
    scaled = state.replace(
        store_inventory=c * state.store_inventory,
        warehouse_inventory=c * state.warehouse_inventory,
        params=state.params.replace(demand_mean=c * state.params.demand_mean))
    base, big = policy.apply(params, state), policy.apply(params, scaled)
    np.testing.assert_allclose(big.stores, c * base.stores, rtol=1e-5)
    np.testing.assert_allclose(big.warehouses, c * base.warehouses, rtol=1e-5)
    share = np.asarray(base.warehouses[:, 0] / (4 * state.params.demand_mean.sum(-1)))
    assert np.all((share > 0.05) & (share < 0.95)), share
    raw = vanilla(problem, hidden=(16, 16), scale_inputs=False)
    assert not np.allclose(raw.apply(params, scaled).stores, big.stores)


def test_vanilla_rejects_bad_arguments():
    problem = invjax.settings.make("one_store_lost")
    with pytest.raises(ValueError, match="activation"):
        vanilla(problem, activation="swishy")
    with pytest.raises(ValueError, match="hidden"):
        vanilla(problem, hidden=(8, 0))


def test_factories_are_cached():
    problem = invjax.settings.make("one_warehouse", n_stores=3, seed=0)
    assert vanilla(problem) is vanilla(problem)
    assert vanilla(problem, hidden=[32, 32, 32]) is vanilla(problem)
    assert vanilla(problem, hidden=(8,)) is not vanilla(problem)
    assert symmetry_aware(problem) is symmetry_aware(problem)
    assert symmetry_aware(problem, **SMALL_SA) is symmetry_aware(problem, **SMALL_SA)
    assert symmetry_aware(problem, shared=False) is not symmetry_aware(problem)
    same = invjax.settings.make("one_warehouse", n_stores=3, seed=0)
    assert symmetry_aware(same) is symmetry_aware(problem)


@pytest.mark.parametrize("name, shared", [("one_warehouse", True), ("transshipment", False)])
def test_symmetry_aware_feasible_and_differentiable(name, shared):
    problem = invjax.settings.make(name, n_stores=5)
    policy = symmetry_aware(problem, shared=shared, **SMALL_SA)
    k_init, k_state = jax.random.split(jax.random.key(2))
    params = policy.init(k_init)
    scenarios, state = _state(problem, k_state)
    _check_feasible(problem, state, policy, params)
    grads = _grad_check(problem, policy, params, scenarios)
    for part in ("context", "warehouse", "store"):
        assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads["params"][part])) > 0


def test_symmetry_aware_context_reads_inventories_in_units_of_mean():
    """Scaling every inventory and store mean by c leaves the context and warehouse nets'
    inputs unchanged, so the warehouse order (a share of 4 x the sum of means) scales by
    exactly c; with raw inputs it does not."""
    problem = invjax.settings.make("one_warehouse", n_stores=4, seed=1)
    k_state, k_init = jax.random.split(jax.random.key(5))
    _, state = _state(problem, k_state)
    c = 9.0
    scaled = state.replace(
        store_inventory=c * state.store_inventory,
        warehouse_inventory=c * state.warehouse_inventory,
        params=state.params.replace(demand_mean=c * state.params.demand_mean))
    policy = symmetry_aware(problem, **SMALL_SA)
    params = policy.init(k_init)
    base, big = policy.apply(params, state), policy.apply(params, scaled)
    np.testing.assert_allclose(big.warehouses, c * base.warehouses, rtol=1e-5)
    raw = symmetry_aware(problem, scale_inputs=False, **SMALL_SA)
    assert not np.allclose(raw.apply(params, scaled).warehouses, c * base.warehouses,
                           rtol=1e-3)


def test_symmetry_aware_rejects_other_networks():
    for name in ("one_store_backlogged", "one_store_lost", "serial"):
        with pytest.raises(ValueError, match="one_warehouse, transshipment"):
            symmetry_aware(invjax.settings.make(name))


def _permute_state(state, perm):
    fields = {f: getattr(state.params, f)[:, perm] for f in STORE_FIELDS}
    return state.replace(store_inventory=state.store_inventory[:, perm],
                         params=state.params.replace(**fields))


def _heterogeneous_state(problem, key):
    """A stocked state whose per-store parameters also differ across scenarios."""
    k_state, k_mean = jax.random.split(key)
    _, state = _state(problem, k_state)
    mean = state.params.demand_mean * jax.random.uniform(k_mean, state.params.demand_mean.shape,
                                                         minval=0.5, maxval=1.5)
    return state.replace(params=state.params.replace(demand_mean=mean))


@pytest.mark.parametrize("name", ["one_warehouse", "transshipment"])
def test_symmetry_aware_is_store_permutation_equivariant(name):
    problem = invjax.settings.make(name, n_stores=5)
    perm = np.array([3, 0, 4, 1, 2])
    k_state, *keys = jax.random.split(jax.random.key(3), 3)
    state = _heterogeneous_state(problem, k_state)
    permuted = _permute_state(state, perm)
    for shared, key in zip((True, False), keys):
        apply = jax.jit(symmetry_aware(problem, shared=shared, **SMALL_SA).apply)
        params = symmetry_aware(problem, shared=shared, **SMALL_SA).init(key)
        base = apply(params, state)
        moved = apply(permute_stores(params, perm, problem.structure), permuted)
        np.testing.assert_allclose(moved.stores, base.stores[:, perm], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(moved.warehouses, base.warehouses, rtol=1e-5, atol=1e-5)
    # Sensitivity: per-store nets (the last `params`) break the symmetry when only the
    # context rows move; the shared net needed nothing else.
    relabelled = permute_stores(params, perm, problem.structure)["params"]
    moved = apply({"params": {**params["params"], "context": relabelled["context"]}}, permuted)
    assert not np.allclose(moved.stores, base.stores[:, perm], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("context_size, shared", [(256, True), (16, False)])
def test_factored_equals_naive(context_size, shared):
    problem = invjax.settings.make("one_warehouse", n_stores=5)
    kwargs = dict(SMALL_SA, context_size=context_size, shared=shared)
    factored = symmetry_aware(problem, **kwargs)
    naive = symmetry_aware(problem, factored=False, **kwargs)
    k_init, k_state = jax.random.split(jax.random.key(4))
    params = factored.init(k_init)
    assert jax.tree.structure(jax.eval_shape(naive.init, k_init)) == jax.tree.structure(params)
    assert jax.eval_shape(naive.init, k_init) == jax.eval_shape(factored.init, k_init)
    state = _heterogeneous_state(problem, k_state)
    a, b = jax.jit(factored.apply)(params, state), jax.jit(naive.apply)(params, state)
    np.testing.assert_allclose(a.stores, b.stores, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.warehouses, b.warehouses, rtol=1e-6, atol=1e-6)


def test_first_layer_macs():
    s, f, c, h = 50, 7, 256, 64
    naive = first_layer_macs(s, f, c, h, factored=False)
    assert naive == s * (f + c) * h
    assert naive - first_layer_macs(s, f, c, h) == (s - 1) * c * h


def _counts(params):
    return {part: n_parameters(tree) for part, tree in params["params"].items()}


def test_parameter_counts_and_store_count():
    small = invjax.settings.make("one_warehouse", n_stores=3, seed=0)
    large = invjax.settings.make("one_warehouse", n_stores=10, seed=0)
    key = jax.random.key(5)
    trees = [jax.eval_shape(symmetry_aware(p).init, key) for p in (small, large)]
    flat_small, flat_large = (jax.tree_util.tree_flatten_with_path(t)[0] for t in trees)
    slots = small.structure.store_slots
    for (path, a), (path_b, b) in zip(flat_small, flat_large):
        assert path == path_b
        a, b = a.shape, b.shape
        if "context" in str(path) and "layers_0" in str(path) and "kernel" in str(path):
            assert b[0] - a[0] == (10 - 3) * slots and a[1:] == b[1:]
        else:
            assert a == b, path

    counts = {}
    for n in (3, 5, 10):
        problem = invjax.settings.make("one_warehouse", n_stores=n, seed=0)
        params = jax.eval_shape(symmetry_aware(problem, shared=False, **SMALL_SA).init, key)
        counts[n] = _counts(params)
    per_store = counts[3]["store"] // 3
    assert all(counts[n]["store"] == n * per_store for n in counts)
    assert counts[3]["warehouse"] == counts[10]["warehouse"]
    totals = {n: sum(c.values()) for n, c in counts.items()}
    assert (totals[5] - totals[3]) * 5 == (totals[10] - totals[5]) * 2  # linear in n
