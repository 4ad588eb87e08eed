"""REINFORCE (SPEC §5): unbiased against a closed-form gradient; trains through the same
`make_train` / `runner.fit` interface; bad estimator or baseline names are rejected.

The unbiasedness problem: one backlogged store, L = 1, a single inventory slot, two
periods, empty start and no demand in period 0. The period-0 order
a = max(S + sigma Z, 0) is on hand in period 1 and meets demand D ~ N(m, s); the order of
period 1 arrives after the horizon. With g(x) = E[h (x - D)^+ + p (D - x)^+], the loss
(mean cost per period) is J = E[g(a)] / 2, so with S = softplus(theta)

  dJ/dtheta     = sigmoid(theta) / 2 * int_{Z > -S/sigma} g'(S + sigma z) phi(z) dz,
  dJ/dlog sigma = sigma / 2 * int_{Z > -S/sigma} g'(S + sigma z) z phi(z) dz,

g'(x) = (h + p) F(x) - p, integrated with scipy, independently of invjax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

import invjax
from invjax.train import TrainConfig, make_train, reinforce, run_config, runner

H, P, M, SD = 1.0, 9.0, 5.0, 1.6
LEVEL, SCALE = 4.0, 0.4  # sigma = SCALE x mean demand = 2: P(a = 0) = Phi(-2), about 2%
SIGMA = SCALE * M
BATCH, REPEATS = 2048, 64


def closed_form(sigma):
    """(dJ/dtheta, dJ/dlog sigma) by numerical integration."""
    theta_slope = -np.expm1(-LEVEL)  # dS/dtheta = sigmoid(softplus^-1(S)) = 1 - e^-S

    def g_prime(x):
        return (H + P) * stats.norm.cdf(x, M, SD) - P

    if sigma == 0:
        return theta_slope * g_prime(LEVEL) / 2, 0.0
    lo = -LEVEL / sigma
    d_level = integrate.quad(lambda z: g_prime(LEVEL + sigma * z) * stats.norm.pdf(z), lo, np.inf)[0]
    d_sigma = integrate.quad(lambda z: g_prime(LEVEL + sigma * z) * z * stats.norm.pdf(z), lo, np.inf)[0]
    return theta_slope * d_level / 2, sigma * d_sigma / 2


@pytest.fixture(scope="module")
def newsvendor():
    problem = invjax.settings.make("one_store_backlogged", lead_time=1, inventory_periods=1,
                                   holding_cost=H, underage_cost=P, demand_mean=M, demand_std=SD)
    policy = invjax.policies.base_stock(problem)
    rng = np.random.default_rng(0)
    demand = np.zeros((REPEATS * BATCH, 2, 1), np.float32)
    demand[:, 1, 0] = rng.normal(M, SD, REPEATS * BATCH)
    scenarios = invjax.scenarios.from_arrays(problem, demand, np.zeros((REPEATS * BATCH, 1, 1)))
    batches = jax.tree.map(lambda x: x.reshape((REPEATS, BATCH) + x.shape[1:]), scenarios)
    return problem, policy, policy.params_for(LEVEL), batches


def mean_and_se(samples):
    samples = np.asarray(samples, np.float64)
    return samples.mean(), samples.std(ddof=1) / np.sqrt(len(samples))


def test_reinforce_is_unbiased_and_hdpo_agrees(newsvendor):
    """Every REINFORCE baseline (the value baseline with a fixed, random value net) and
    HDPO of the perturbed policy (reparameterised noise) estimate the closed-form
    gradient; HDPO of the deterministic policy matches its sigma = 0 value."""
    problem, policy, params, batches = newsvendor
    log_scale = jnp.log(jnp.float32(SCALE))
    value_params = reinforce.value_net().init(jax.random.key(5), jnp.zeros((1, 2)))

    def estimate(scenarios, keys):
        out = {}
        for baseline, key in zip(reinforce.BASELINES, keys[1:]):
            _, g, g_scale, _, _ = reinforce.reinforce_grad(
                problem, policy, params, log_scale, scenarios, key, baseline, value_params)
            out[baseline] = (g["level"][0], g_scale)
        g, g_scale = jax.grad(reinforce.perturbed_cost, (2, 3))(
            problem, policy, params, log_scale, scenarios, keys[0])
        out["pathwise"] = (g["level"][0], g_scale)
        g = jax.grad(invjax.hindsight_cost, 2)(problem, policy, params, scenarios)
        return out, g["level"][0]

    keys = jax.random.split(jax.random.key(1), (REPEATS, 1 + len(reinforce.BASELINES)))
    estimates, deterministic = jax.jit(jax.vmap(estimate))(batches, keys)
    want = closed_form(SIGMA)
    for name, samples in estimates.items():
        for sample, target in zip(samples, want):
            mean, se = mean_and_se(sample)
            assert abs(mean - target) < 4 * se + 1e-4, (name, mean, target, se)
            assert se < 0.1 * abs(target)  # power: the target is many SEs away from 0
    spread = {name: np.std(np.asarray(g[0])) for name, g in estimates.items()}
    assert spread["batch_mean"] < 0.8 * spread["none"], spread
    assert spread["pathwise"] < 0.6 * spread["batch_mean"], spread
    mean, se = mean_and_se(deterministic)
    assert abs(mean - closed_form(0)[0]) < 4 * se + 1e-4, (mean, closed_form(0)[0], se)
    assert abs(closed_form(0)[0] - want[0]) > 10 * se  # the noise changes the objective


SMALL = {"epochs": 6, "eval_every": 3, "batch_size": 256, "learning_rate": 0.5,
         "train": [1024, 20, 5], "dev": [1024, 40, 10], "test": [512, 100, 20]}


def test_reinforce_training_lowers_cost():
    problem = invjax.settings.make("one_store_backlogged", lead_time=2)
    config = TrainConfig(estimator="reinforce", baseline="value", learn_noise=True,
                         noise_scale=0.3, **SMALL)
    trainer = make_train(problem, invjax.policies.base_stock(problem), config)
    state, metrics = jax.jit(trainer.train)(jax.random.key(4))
    assert metrics.dev_cost.shape == (2,) and np.all(np.isfinite(metrics.train_loss))
    assert metrics.train_loss[-1] < 0.8 * metrics.train_loss[0]
    # S starts at 10, far below S* = 5 x 3 + 1.28 x 1.6 x sqrt(3) = 18.6
    assert float(jax.nn.softplus(state.best_params["level"][0])) > 12
    aux, _ = state.opt_state[1]
    assert set(aux) == {"log_scale", "value"}
    assert abs(float(aux["log_scale"]) - np.log(0.3)) > 1e-3  # learned


def test_feasible_orders():
    """The map applied after the noise keeps shipments within the upstream on-hand."""
    rng = np.random.default_rng(3)
    for setting, overrides in (("one_warehouse", {"n_stores": 3}),
                               ("transshipment", {"n_stores": 3}), ("serial", {})):
        problem = invjax.settings.make(setting, **overrides)
        s = problem.structure
        scenarios = invjax.scenarios.from_arrays(
            problem, np.zeros((32, 1, s.n_stores)), rng.uniform(0, 9, (32, s.n_stores, s.store_slots)),
            rng.uniform(-1, 30, (32, s.n_warehouses, s.warehouse_slots)),
            rng.uniform(-1, 30, (32, s.n_echelons, s.echelon_slots)))
        obs = invjax.Env(problem).reset(scenarios)
        order = invjax.Action(*(jnp.asarray(rng.uniform(0, 40, (32, k)), jnp.float32)
                                for k in (s.n_stores, s.n_warehouses, s.n_echelons)))
        out = reinforce.feasible(s, obs, order)
        w_on_hand = np.maximum(np.asarray(scenarios.warehouse_inventory[:, 0, 0]), 0)
        shipped = np.asarray(out.stores).sum(-1)
        if setting == "serial":
            on_hand = np.maximum(np.concatenate([scenarios.echelon_inventory[:, :, 0],
                                                 scenarios.warehouse_inventory[:, :, 0]], -1), 0)
            stages = np.concatenate([out.echelons, out.warehouses, out.stores], -1)
            want = np.concatenate([order.echelons[:, :1], np.minimum(
                np.concatenate([order.echelons[:, 1:], order.warehouses, order.stores], -1),
                on_hand)], -1)
            np.testing.assert_allclose(stages, want, rtol=1e-6)
        elif s.transshipment:
            np.testing.assert_allclose(shipped, w_on_hand, rtol=1e-5, atol=1e-5)
        else:
            assert np.all(shipped <= w_on_hand + 1e-4)
            np.testing.assert_allclose(out.warehouses, order.warehouses)


def test_runner_fit_with_reinforce(tmp_path):
    config = {"setting": "one_store_backlogged", "problem": {"lead_time": 2},
              "policy": {"name": "base_stock"},
              "trainer": {**SMALL, "estimator": "reinforce"}}
    summary = runner.fit(config, tmp_path / "run", progress=False)
    assert summary["epochs"] == SMALL["epochs"] and np.isfinite(summary["test_cost"])
    assert summary["test_cost"] < 1.3 * summary["optimum"]
    # The checkpoint holds (policy optimizer state, (aux, aux optimizer state)).
    problem, policy, train_config = run_config.build(config)
    init = make_train(problem, policy, train_config).init
    like = jax.vmap(init)(jax.random.split(jax.random.key(0), 1))
    state = runner.load_checkpoint(tmp_path / "run" / "checkpoints" / "last", like)
    (aux, _), = [state.opt_state[1]]
    assert set(aux) == {"log_scale"}
    assert float(aux["log_scale"][0]) == pytest.approx(np.log(0.2))  # fixed by default


@pytest.mark.parametrize("field, value, allowed", [
    ("estimator", "ppo", "['hdpo', 'reinforce']"),
    ("baseline", "mean", "['none', 'batch_mean', 'value']"),
])
def test_invalid_names_are_rejected(field, value, allowed):
    with pytest.raises(ValueError, match=rf"trainer\.{field}: '{value}'.*allowed.*") as err:
        TrainConfig(**{field: value})
    assert allowed in str(err.value)
    config = {"setting": "one_store_lost", "trainer": {field: value}}
    with pytest.raises(ValueError, match=rf"trainer\.{field}"):
        runner.fit(config, progress=False)


def test_invalid_noise_scale_is_rejected():
    with pytest.raises(ValueError, match="trainer.noise_scale"):
        TrainConfig(noise_scale=0.0)


def many_warehouse_problem():
    """2 warehouses, 4 stores; stores 1 and 2 are served by both (edges with their own
    lead times), built from `invjax.networks`; lost demand, a per-unit warehouse cost."""
    network = invjax.networks.many_warehouses([[2, 1, 3, 0], [0, 2, 1, 1]], store_slots=3,
                                              warehouse_lead_time=2,
                                              warehouse_costs=[0.3, 0.5])
    structure = invjax.problem.Structure("two_by_four", network, lost_demand=True,
                                         demand=invjax.problem.Demand("normal", clip=True))
    return invjax.make_problem(
        structure, holding_cost=[1.0, 0.8, 1.2, 1.0], underage_cost=[9.0, 8.0, 10.0, 7.0],
        demand_mean=[5.0, 3.0, 4.0, 6.0], demand_std=[1.5, 1.0, 1.2, 2.0],
        warehouse_holding_cost=[0.3, 0.4])


def test_noise_and_feasibility_per_edge_on_many_warehouses():
    """Noise std per edge = the mean demand through its destination (a store's own mean;
    a warehouse: the sum over the stores it serves); flows out of every warehouse never
    exceed its on-hand, supplier edges are untouched."""
    problem = many_warehouse_problem()
    s, net = problem.structure, problem.structure.network
    rng = np.random.default_rng(7)
    n = 16
    scenarios = invjax.scenarios.from_arrays(
        problem, np.zeros((n, 1, 4)), rng.uniform(0, 9, (n, 4, s.store_slots)),
        rng.uniform(-1, 20, (n, 2, s.warehouse_slots)))
    obs = invjax.Env(problem).reset(scenarios)
    reference = reinforce.noise_reference(net, obs)
    means = [5.0, 3.0, 4.0, 6.0]
    store_edges = net.edges_into("store")
    want = [means[int(e.destination.split("_")[-1])] for e in store_edges]
    np.testing.assert_allclose(reference.stores, np.broadcast_to(want, (n, len(want))))
    served = {"warehouse_0": [0, 1, 2], "warehouse_1": [1, 2, 3]}
    want = [sum(means[i] for i in served[e.destination]) for e in net.edges_into("warehouse")]
    np.testing.assert_allclose(reference.warehouses, np.broadcast_to(want, (n, 2)))

    order = invjax.Action(jnp.asarray(rng.uniform(0, 15, (n, len(store_edges))), jnp.float32),
                          jnp.asarray(rng.uniform(0, 15, (n, 2)), jnp.float32))
    out = reinforce.feasible(s, obs, order)
    on_hand = np.maximum(np.asarray(scenarios.warehouse_inventory[:, :, 0]), 0)
    for w, name in enumerate(("warehouse_0", "warehouse_1")):
        mine = [j for j, e in enumerate(store_edges) if e.source == name]
        shipped = np.asarray(out.stores)[:, mine].sum(-1)
        assert np.all(shipped <= on_hand[:, w] + 1e-4)
        ratio = np.asarray(out.stores)[:, mine] / np.asarray(order.stores)[:, mine]
        np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones_like(ratio), rtol=1e-5)
    np.testing.assert_array_equal(out.warehouses, order.warehouses)


def test_reinforce_trains_on_a_many_warehouse_network():
    problem = many_warehouse_problem()
    policy = invjax.policies.make("vanilla", problem, hidden=[16])
    config = TrainConfig(estimator="reinforce", baseline="batch_mean", noise_scale=0.3,
                         learning_rate=1e-2, batch_size=128, epochs=8, eval_every=4,
                         train=(512, 20, 5), dev=(256, 30, 10))
    trainer = make_train(problem, policy, config)
    state, metrics = jax.jit(trainer.train)(jax.random.key(2))
    assert np.all(np.isfinite(metrics.train_loss)) and np.all(np.isfinite(metrics.dev_cost))
    assert not bool(state.nan)
    assert float(metrics.train_loss[-1]) < 0.5 * float(metrics.train_loss[0])
