"""context_base_stock: reduces to base_stock_allocation with flat levels, stays feasible,
has finite gradients in every parameter, and its levels follow the context."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import invjax
from invjax.policies import base_stock_allocation
from invjax.policies.context_base_stock import KNOTS, context, context_base_stock, store_levels

N, PERIODS = 16, 12


@pytest.fixture(scope="module")
def problem():
    return invjax.settings.make("one_warehouse", n_stores=4)


@pytest.fixture(scope="module")
def data(problem):
    return invjax.scenarios.sample(problem, jax.random.key(0), N, PERIODS)


def _state(problem, data, warehouse_on_hand):
    state = invjax.Env(problem).reset(data)
    w = state.warehouse_inventory.at[:, 0, 0].set(warehouse_on_hand)
    return state.replace(warehouse_inventory=w)


def test_flat_levels_are_base_stock_allocation(problem, data):
    policy = context_base_stock(problem)
    params = policy.params_for(store_periods=3.0, warehouse_periods=7.0)
    mean = problem.params.demand_mean
    reference = base_stock_allocation(problem)
    ref_params = reference.params_for(3.0 * mean, 7.0 * float(mean.sum()))
    state = _state(problem, data, jnp.linspace(0.0, 60.0, N))
    got, want = policy.apply(params, state), reference.apply(ref_params, state)
    np.testing.assert_allclose(got.stores, want.stores, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got.warehouses, want.warehouses, rtol=1e-5, atol=1e-4)


def test_feasible_and_differentiable(problem, data):
    policy = context_base_stock(problem)
    slopes = jax.random.normal(jax.random.key(1), (len(KNOTS), 4))
    params = policy.params_for(slopes=slopes)
    state = _state(problem, data, jnp.linspace(0.0, 30.0, N))
    action = policy.apply(params, state)
    assert np.all(action.stores >= 0) and np.all(action.warehouses >= 0)
    assert np.all(action.stores.sum(-1) <= state.warehouse_inventory[:, 0, 0] + 1e-4)
    result = invjax.simulate(problem, policy, params, data, record=True)
    assert np.all(result.final_state.warehouse_inventory[:, 0, 0] >= -1e-3)
    assert np.all(result.final_state.store_inventory[..., 0] >= 0)
    grads = jax.grad(lambda p: invjax.hindsight_cost(problem, policy, p, data))(params)
    for name, g in grads.items():
        assert np.all(np.isfinite(g)) and float(jnp.abs(g).sum()) > 0, name


def test_levels_follow_the_context(problem, data):
    policy = context_base_stock(problem)
    slopes = jnp.zeros((len(KNOTS), 4)).at[0].set(0.5)  # levels rise with c above knot 0
    params = policy.params_for(store_periods=2.0, slopes=slopes)
    levels = store_levels(problem, params, jnp.array([0.0, 1.0, 2.0]))
    assert levels.shape == (3, 4)
    assert np.all(np.diff(np.asarray(levels), axis=0) > 0)
    np.testing.assert_allclose(levels[0], 2.0 * problem.params.demand_mean, rtol=1e-5)
    state = _state(problem, data, 2.0 * problem.params.demand_mean.sum())
    np.testing.assert_allclose(context(state), 2.0, rtol=1e-5)


def test_rejects_other_networks():
    with pytest.raises(ValueError, match="one-warehouse"):
        context_base_stock(invjax.settings.make("one_store_lost"))
    with pytest.raises(ValueError, match="knots"):
        context_base_stock(invjax.settings.make("one_warehouse"), knots=(1.0, 0.0))
