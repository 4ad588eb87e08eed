"""Pathwise gradients of the hindsight cost (SPEC §5) and compile-once behaviour.

Gradients of `invjax.hindsight_cost` w.r.t. heuristic policy parameters are checked
against central finite differences in float64, at points away from the max/min kinks
(continuous normal demand, levels in the interior).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
import numpy as np
import pytest

import invjax
from invjax.policies import Policy


def to_float64(tree):
    return jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def instance(name):
    """(problem, policy, params) at an interior point; levels in natural units."""
    if name == "one_store_backlogged":
        problem = invjax.settings.make("one_store_backlogged", lead_time=2)
        policy = invjax.policies.base_stock(problem)
        return problem, policy, policy.params_for(16.3)
    if name == "one_warehouse":
        problem = invjax.settings.make("one_warehouse", n_stores=3, seed=1)
        policy = invjax.policies.base_stock_allocation(problem)
        mean = np.asarray(problem.params.demand_mean, np.float64)
        store = mean * 3.3 + 0.37
        return problem, policy, policy.params_for(store, store.sum() + 2.7 * mean.sum())
    if name == "serial":
        problem = invjax.settings.make("serial")
        policy = invjax.policies.echelon_stock(problem)
        return problem, policy, policy.params_for([68.3, 52.1, 31.7, 16.9])
    raise KeyError(name)


@pytest.mark.parametrize("name", ["one_store_backlogged", "one_warehouse", "serial"])
def test_hindsight_gradient_matches_finite_differences(name):
    problem, policy, params32 = instance(name)
    assert not jax.config.jax_enable_x64
    try:
        with jax.enable_x64(True):
            sc = to_float64(invjax.scenarios.sample(problem, jax.random.key(7), 48, 40))
            params = to_float64(params32)

            def loss(p):
                return invjax.hindsight_cost(problem, policy, p, sc)

            value, grad = jax.value_and_grad(loss)(params)
            assert value.dtype == jnp.float64
            flat, unravel = ravel_pytree(params)
            flat_grad = np.asarray(ravel_pytree(grad)[0])
            eps = 1e-6
            fd = np.empty_like(flat_grad)
            for i in range(flat.size):
                e = jnp.zeros_like(flat).at[i].set(eps)
                fd[i] = (float(loss(unravel(flat + e))) - float(loss(unravel(flat - e)))) / (
                    2 * eps)
    finally:
        assert not jax.config.jax_enable_x64, "x64 mode leaked out of the test"
    assert np.all(np.isfinite(flat_grad))
    assert np.abs(flat_grad).max() > 1e-3, "degenerate point: no gradient signal"
    np.testing.assert_allclose(flat_grad, fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max(),
                               err_msg=f"{name}: autodiff {flat_grad} vs FD {fd}")


@pytest.mark.slow
def test_float32_gradient_is_close_to_float64():
    """The default float32 gradient agrees with the float64 one to float32 accuracy."""
    problem, policy, params = instance("one_store_backlogged")
    sc = invjax.scenarios.sample(problem, jax.random.key(3), 48, 40)
    g32 = jax.grad(lambda p: invjax.hindsight_cost(problem, policy, p, sc))(params)
    with jax.enable_x64(True):
        sc64 = to_float64(sc)
        g64 = jax.grad(lambda p: invjax.hindsight_cost(problem, policy, p, sc64))(
            to_float64(params))
        g64 = np.asarray(g64["level"])
    np.testing.assert_allclose(np.asarray(g32["level"]), g64, rtol=1e-3, atol=1e-5)


def test_jitted_rollout_compiles_once():
    """A jitted function around `simulate` traces once for new parameter values and new
    scenarios of the same shapes."""
    problem, policy, _ = instance("one_warehouse")
    mean = np.asarray(problem.params.demand_mean, np.float64)
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(params, scenarios):
        return invjax.simulate(problem, policy, params, scenarios, record=False).mean_cost

    keys = jax.random.split(jax.random.key(0), 3)
    costs = []
    for i in range(3):
        sc = invjax.scenarios.sample(problem, keys[i], 16, 20, ignore_periods=5)
        params = policy.params_for(mean * (3 + i), mean.sum() * (8 + i))
        costs.append(float(run(params, sc)))
    assert len(set(costs)) == 3  # really new values each time


def test_simulate_compiles_once_and_grad_does_not_retrace():
    """`simulate` itself (no outer jit) and its gradient trace the policy once for new
    values of the same shapes: a counting policy sees a single trace."""
    problem, base, params0 = instance("one_store_backlogged")
    traces = []

    def apply(params, obs):
        traces.append(1)
        return base.apply(params, obs)

    policy = Policy(init=base.init, apply=apply)
    keys = jax.random.split(jax.random.key(1), 6)
    for i in range(3):
        sc = invjax.scenarios.sample(problem, keys[i], 16, 20, ignore_periods=4)
        invjax.simulate(problem, policy, base.params_for(14.0 + i), sc)
    assert len(traces) == 1, f"simulate traced the policy {len(traces)} times"

    grad_traces = len(traces)
    for i in range(3):
        sc = invjax.scenarios.sample(problem, keys[3 + i], 16, 20)
        jax.grad(lambda p: invjax.hindsight_cost(problem, policy, p, sc))(
            base.params_for(14.0 + i))
    assert len(traces) - grad_traces <= 1, (
        f"grad(hindsight_cost) traced the policy {len(traces) - grad_traces} times")


def test_split_batch_has_the_same_loss_and_gradient():
    """`hindsight_cost(..., splits=k)` rolls out k sub-batches as separate scans: the
    same mean and gradient as one scan, and bad `splits` name the field."""
    problem = invjax.settings.make("one_warehouse", n_stores=3, seed=1)
    policy = invjax.policies.symmetry_aware(problem, context_size=8, context_hidden=(16,),
                                            store_hidden=(8,), warehouse_hidden=(8,))
    params = policy.init(jax.random.key(0))
    sc = invjax.scenarios.sample(problem, jax.random.key(1), 12, 6)

    def value_and_grad(splits):
        return jax.value_and_grad(lambda p: invjax.hindsight_cost(
            problem, policy, p, sc, splits=splits))(params)

    loss, grad = value_and_grad(1)
    for splits in (2, 3):
        other, other_grad = value_and_grad(splits)
        np.testing.assert_allclose(other, loss, rtol=1e-6)
        chex.assert_trees_all_close(other_grad, grad, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="splits: 5; allowed"):
        invjax.hindsight_cost(problem, policy, params, sc, splits=5)


def test_truncated_gradient_is_the_sum_of_restarted_windows():
    """`backprop_periods=K` (truncated backpropagation through time) equals, in value and
    gradient, restarting the rollout every K periods from the recorded state held fixed;
    K at least the horizon is the exact gradient, and a bad K names the field."""
    problem = invjax.settings.make("serial_chain", n_stages=3)
    # The cut is the rollout's, whatever the policy; a small MLP compiles 5x faster than
    # the GNN the serial chain ships with this cut.
    policy = invjax.policies.make("vanilla", problem, hidden=[8])
    params = policy.init(jax.random.key(0))
    sc = invjax.scenarios.sample(problem, jax.random.key(1), 16, 23)
    window, periods = 7, sc.periods
    stores = problem.structure.n_stores

    def loss(p, scenarios, backprop_periods=None):
        return invjax.hindsight_cost(problem, policy, p, scenarios,
                                     backprop_periods=backprop_periods)

    def restarted(p):
        total = 0.0
        for start in range(0, periods, window):
            head = jax.tree.map(lambda x: x, sc).replace(demand=sc.demand[:, :max(start, 1)])
            state = (invjax.simulate(problem, policy, params, head, record=False).final_state
                     if start else sc)
            part = sc.replace(
                demand=sc.demand[:, start:start + window],
                **{f: jax.lax.stop_gradient(getattr(state, f)) for f in (
                    "store_inventory", "warehouse_inventory", "echelon_inventory",
                    "past_demand")})
            total += loss(p, part) * part.periods * stores
        return total / (periods * stores)

    value, grad = jax.value_and_grad(loss)(params, sc, window)
    want_value, want_grad = jax.jit(jax.value_and_grad(restarted))(params)  # one compile
    np.testing.assert_allclose(value, want_value, rtol=1e-5)
    chex.assert_trees_all_close(grad, want_grad, rtol=1e-3, atol=1e-5)
    exact = jax.grad(loss)(params, sc)
    chex.assert_trees_all_close(jax.grad(loss)(params, sc, periods), exact, rtol=1e-6)
    flat = lambda tree: np.asarray(ravel_pytree(tree)[0])  # noqa: E731
    assert not np.allclose(flat(grad), flat(exact), rtol=1e-2)  # truncation did cut
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError, match=f"backprop_periods: {bad!r}; allowed"):
            loss(params, sc, bad)
