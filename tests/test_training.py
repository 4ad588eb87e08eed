"""HDPO training: reaches the closed-form optimum, improves a one_warehouse policy, trains
seeds in one program, resumes exactly, and stops cleanly on a NaN loss."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import invjax
from invjax.train import TrainConfig, hdpo, make_train, runner

SMALL = {
    "setting": "one_store_backlogged",
    "policy": {"name": "base_stock"},
    "trainer": {"epochs": 20, "eval_every": 5, "batch_size": 512, "learning_rate": 0.5,
                "train": [2048, 30, 10], "dev": [1024, 60, 20], "test": [1024, 200, 50]},
}


def test_base_stock_training_reaches_optimum():
    problem = invjax.settings.make("one_store_backlogged", lead_time=4, underage_cost=9)
    config = TrainConfig(learning_rate=0.5, batch_size=1024, epochs=40, eval_every=5,
                         train=(4096, 50, 30), dev=(4096, 100, 60))
    trainer = make_train(problem, invjax.policies.base_stock(problem), config)
    state, metrics = jax.jit(trainer.train)(jax.random.key(0))
    test = invjax.scenarios.sample(problem, jax.random.key(1), 2048, 1000, 200)
    cost = float(trainer.evaluate(state.best_params, test))
    assert cost < 1.02 * invjax.optimal.cost(problem), cost


def test_symmetry_aware_improves_on_one_warehouse():
    problem = invjax.settings.make("one_warehouse", n_stores=3, seed=0)
    policy = invjax.policies.make("symmetry_aware", problem, context_size=16,
                                  context_hidden=[32], store_hidden=[16], warehouse_hidden=[8])
    config = TrainConfig(learning_rate=3e-3, batch_size=256, epochs=20, eval_every=5,
                         train=(1024, 40, 10), dev=(1024, 60, 20))
    trainer = make_train(problem, policy, config)
    k_train, k_init, k_test = jax.random.split(jax.random.key(0), 3)
    state, metrics = jax.jit(trainer.train)(k_train)
    test = invjax.scenarios.sample(problem, k_test, 1024, 200, 50)
    initial = float(trainer.evaluate(trainer.init(k_init).params, test))
    trained = float(trainer.evaluate(state.best_params, test))
    assert trained < 0.5 * initial, (initial, trained)
    # Still improving after the first evaluation, not just leaving a bad start.
    assert float(metrics.best_dev[-1]) < 0.8 * float(metrics.dev_cost[0]), metrics.dev_cost


def test_seeds_train_in_one_program_and_each_is_reported(tmp_path):
    both = runner.fit({**SMALL, "seed": 3, "n_seeds": 2}, tmp_path / "two", progress=False)
    alone = runner.fit({**SMALL, "seed": 4}, progress=False)
    assert [s["seed"] for s in both["seeds"]] == [3, 4]
    second = both["seeds"][1]
    np.testing.assert_allclose(second["best_dev"], alone["best_dev"], rtol=1e-5)
    # Seeds share the first seed's test scenarios, so only the dev costs compare here.
    assert both["seeds"][0]["test_cost"] != second["test_cost"]
    chosen = min(both["seeds"], key=lambda s: s["best_dev"])
    assert both["seed"] == chosen["seed"] and both["test_cost"] == chosen["test_cost"]
    rows = (tmp_path / "two" / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("seed,epoch") and len(rows) == 1 + 2 * 4
    # Each seed's best dev cost is dated by the first evaluation with its lowest dev cost.
    rows = json.loads((tmp_path / "two" / "metrics.json").read_text())
    for seed in both["seeds"]:
        mine = [r for r in rows if r["seed"] == seed["seed"]]
        lowest = min(mine, key=lambda r: r["dev_cost"])  # min keeps the first of ties
        assert seed["best_dev"] == lowest["dev_cost"]
        assert seed["best_dev_epoch"] == lowest["epoch"]
    assert both["best_dev_epoch"] == chosen["best_dev_epoch"]


def test_resume_matches_uninterrupted(tmp_path):
    a = runner.fit(SMALL, tmp_path / "a", progress=False)
    stopped = runner.fit(SMALL, tmp_path / "b", progress=False, stop_after_epochs=10)
    assert stopped == {"interrupted_at_epoch": 10}
    b = runner.fit(SMALL, tmp_path / "b", progress=False, resume=True)
    assert a["test_cost"] == b["test_cost"] and a["best_dev"] == b["best_dev"]
    assert a["best_dev_epoch"] == b["best_dev_epoch"]  # dated from the first run's rows too
    for name in ("summary.json", "metrics.csv", "metrics.json", "learning_curve.png", "config.yaml"):
        assert (tmp_path / "b" / name).exists(), name
    assert np.isfinite(runner.evaluate_run(tmp_path / "b")["test_cost"])


def _poisoned(make):
    """make_train whose training data has a NaN demand in one scenario."""

    def make_train_(*args, **kwargs):
        trainer = make(*args, **kwargs)

        def data(key):
            out = trainer.data(key)
            train = out["train"]
            out["train"] = train.replace(demand=train.demand.at[0, 0].set(jnp.nan))
            return out

        return trainer._replace(data=data)

    return make_train_


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = {**SMALL, "policy": {"name": "vanilla", "hidden": [8]},
              "trainer": {**SMALL["trainer"], "learning_rate": 1e-3}}
    runner.fit(config, tmp_path, progress=False, stop_after_epochs=5)
    problem, policy, train_config = invjax.train.run_config.build(config)
    trainer = make_train(problem, policy, train_config)
    like = jax.vmap(trainer.init)(runner.seed_keys(runner.run_config.validate(config))[1])
    good = runner.load_checkpoint(tmp_path / "checkpoints" / "last", like)

    monkeypatch.setattr(runner, "make_train", _poisoned(make_train))
    with pytest.raises(runner.TrainingDiverged) as info:
        runner.fit(config, tmp_path, progress=False, resume=True)
    message = str(info.value)
    for words in ("diverged", "epochs 6..10", "learning_rate", str(tmp_path / "checkpoints")):
        assert words in message, message
    kept = runner.load_checkpoint(tmp_path / "checkpoints" / "last", like)
    assert int(kept.epoch[0]) == 5
    for a, b in zip(jax.tree.leaves(good.params), jax.tree.leaves(kept.params)):
        np.testing.assert_array_equal(a, b)
        assert np.isfinite(b).all()


def test_a_nan_step_leaves_the_parameters_untouched():
    problem = invjax.settings.make("one_store_lost")
    policy = invjax.policies.make("vanilla", problem, hidden=[8])
    config = TrainConfig(batch_size=64, epochs=1, eval_every=1, train=(256, 10, 2),
                         dev=(64, 10, 2))
    trainer = make_train(problem, policy, config)
    k_data, k_init = jax.random.split(jax.random.key(0))
    data = trainer.data(k_data)
    data["train"] = data["train"].replace(demand=data["train"].demand.at[:, 3].set(jnp.inf))
    state = trainer.init(k_init)
    after, metrics = trainer.run(state, data, 1)
    assert bool(after.nan) and bool(after.stopped) and np.isnan(float(metrics.dev_cost))
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(after.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("loss_periods, backprop_periods",
                         [("all", None), ("after_warmup", None), ("all", 8)])
def test_the_loss_counts_the_periods_it_is_told_and_its_gradient_norm_is_reported(
        loss_periods, backprop_periods):
    problem = invjax.settings.make("serial_chain", n_stages=3)
    policy = invjax.policies.make("echelon_stock", problem)
    warmup = 12
    config = TrainConfig(batch_size=64, epochs=1, eval_every=1, train=(64, 40, warmup),
                         dev=(64, 40, warmup), loss_periods=loss_periods, clip_norm=1.0,
                         backprop_periods=backprop_periods)
    trainer = make_train(problem, policy, config)
    k_data, k_init = jax.random.split(jax.random.key(0))
    data = trainer.data(k_data)
    state = trainer.init(k_init)
    _, metrics = trainer.run(state, data, 1)  # one step: its loss is the initial policy's
    cost = np.asarray(invjax.simulate(problem, policy, state.params, data["train"]).cost,
                      np.float64)  # [n, T], verified against the SPEC oracle elsewhere
    first = warmup if loss_periods == "after_warmup" else 0
    expected = cost[:, first:].sum() / (cost.shape[0] * (cost.shape[1] - first))
    np.testing.assert_allclose(float(metrics.train_loss[0]), expected, rtol=1e-5)
    # The step's gradient is that loss's (truncated as told), and the metric reports its
    # norm before clipping.
    grad = jax.grad(lambda p: invjax.hindsight_cost(
        problem, policy, p, data["train"], first, backprop_periods=backprop_periods))(
        state.params)
    norm = np.sqrt(sum((np.asarray(g, np.float64) ** 2).sum() for g in jax.tree.leaves(grad)))
    np.testing.assert_allclose(float(metrics.grad_norm[0]), norm, rtol=1e-4)
    # The start from empty upstream stages is unlike the rest: the two choices differ.
    assert abs(cost[:, :warmup].mean() / cost[:, warmup:].mean() - 1) > 0.1


@pytest.mark.parametrize("setting, policy, bound", [
    ("transshipment", "base_stock_allocation", True),
    ("one_store_backlogged", "base_stock", False),
    ("one_warehouse", "base_stock_allocation", None),  # nothing known
])
def test_summary_reports_what_optimal_knows(setting, policy, bound):
    trainer = {"epochs": 1, "eval_every": 1, "batch_size": 64, "learning_rate": 0.1,
               "train": [64, 10, 2], "dev": [64, 10, 2], "test": [64, 40, 10]}
    summary = runner.fit({"setting": setting, "policy": {"name": policy},
                          "problem": {"n_stores": 3} if setting != "one_store_backlogged" else {},
                          "trainer": trainer}, progress=False)
    known = invjax.optimal.known(runner.run_config.build({"setting": setting, "problem": (
        {"n_stores": 3} if setting != "one_store_backlogged" else {})})[0])
    assert summary["policy"] == policy and summary["setting"] == setting
    if bound is None:
        assert known is None and summary["optimum"] is None and summary["gap_pct"] is None
        assert summary["optimum_is_bound"] is False
    else:
        assert summary["optimum"] == known.cost and summary["optimum_is_bound"] is bound
        assert summary["gap_pct"] == pytest.approx(100 * (summary["test_cost"] / known.cost - 1))


def test_train_start_scale_scales_the_training_starts_only():
    """`trainer.train_start_scale` multiplies the training traces' initial store vectors;
    their demand, the warehouses' empty start and the dev split stay as sampled, and the
    default 1 is the SPEC's U(0, 1) x mean sample itself."""
    problem = invjax.settings.make("transshipment", n_stores=3)
    policy = invjax.policies.make("vanilla", problem, hidden=[4])
    config = TrainConfig(batch_size=8, train=(16, 10, 2), dev=(8, 12, 2))
    key = jax.random.key(3)  # the same key three times: clones (key-reuse checking)
    base = make_train(problem, policy, config).data(jax.random.clone(key))
    scaled = make_train(problem, policy, dataclasses.replace(config, train_start_scale=3.0)
                        ).data(jax.random.clone(key))
    want = invjax.scenarios.sample(problem, jax.random.split(key)[0], *config.train)
    np.testing.assert_array_equal(base["train"].store_inventory, want.store_inventory)
    np.testing.assert_allclose(scaled["train"].store_inventory,
                               3.0 * np.asarray(want.store_inventory), rtol=1e-6)
    assert float(np.asarray(want.store_inventory).min()) >= 0
    # From the SPEC, in NumPy: every slot in [0, 3 x the store's empirical mean demand).
    mean = np.asarray(scaled["train"].demand).mean(axis=(0, 1))
    ratio = np.asarray(scaled["train"].store_inventory) / mean[None, :, None]
    assert ratio.min() >= 0 and ratio.max() < 3 and ratio.max() > 2  # 96 draws
    for field in ("demand", "warehouse_inventory"):
        np.testing.assert_array_equal(getattr(scaled["train"], field), getattr(want, field))
    for a, b in zip(jax.tree.leaves(base["dev"]), jax.tree.leaves(scaled["dev"])):
        np.testing.assert_array_equal(a, b)


def test_evaluation_epochs_are_those_of_train_and_of_fit():
    config = {**SMALL, "trainer": {**SMALL["trainer"], "epochs": 7, "eval_every": 3,
                                   "train": [512, 20, 5], "dev": [256, 30, 10]}}
    problem, policy, train_config = invjax.train.run_config.build(config)
    assert hdpo.evaluation_epochs(train_config) == [3, 6, 7]
    _, metrics = jax.jit(make_train(problem, policy, train_config).train)(jax.random.key(0))
    assert metrics.dev_cost.shape == (3,)
    summary = runner.fit(config, progress=False)
    assert summary["epochs"] == 7 and summary["best_dev_epoch"] in (3, 6, 7)
