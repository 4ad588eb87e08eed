"""Safe horizons (invjax.train.horizons), the dev/test warning, and like-with-like
progress: the train cost after warm-up and the learning curve's y-range."""

import dataclasses
import math

import jax
import pytest

import invjax
from invjax.problem import Demand
from invjax.scenarios import DEFAULT_HORIZONS, Horizon
from invjax.train import TrainConfig, horizons, make_train, run_config, runner
from invjax.train.rundir import y_limits


def _train(setting, **options):
    return horizons.safe_horizons(invjax.settings.make(setting, **options).structure)["train"]


def test_derived_horizon_grows_with_the_longest_lead_time():
    leads = [1, 4, 7, 10, 15, 20, 30, 60]
    train = [_train("one_store_backlogged", lead_time=lead) for lead in leads]
    for shorter, longer in zip(train, train[1:]):
        assert longer.periods >= shorter.periods
        assert longer.ignore_periods >= shorter.ignore_periods
    assert train[-1].periods > train[0].periods and train[-1].ignore_periods > 30
    # A long serial chain gets longer traces than a short one.
    short = _train("serial_chain", n_stages=2, lead_time=1)
    long = _train("serial_chain", n_stages=6, lead_time=4)
    assert long.periods > short.periods


def test_paper_horizons_kept_where_safe_and_longer_for_the_failed_cells():
    paper = {s: DEFAULT_HORIZONS[s] for s in horizons.SPLITS}
    assert horizons.safe_horizons(
        invjax.settings.make("one_store_lost", lead_time=4).structure) == paper
    assert _train("serial", lead_time=1) == paper["train"]  # longest path 10
    for setting, lead in [("one_store_backlogged", 20), ("serial", 3)]:
        safe = horizons.safe_horizons(invjax.settings.make(setting, lead_time=lead).structure)
        assert safe["train"].periods >= 100, (setting, safe)
        # Dev counts the paper's 40 periods, all after the end of every training trace.
        assert safe["dev"].ignore_periods >= safe["train"].periods
        assert safe["dev"].periods - safe["dev"].ignore_periods == 40
        assert safe["test"] == paper["test"]


def test_autocorrelated_demand_lengthens_the_warm_up():
    structure = invjax.settings.make("one_store_backlogged", lead_time=4).structure
    ar = dataclasses.replace(structure, demand=Demand(ar_coefficient=0.9))
    m = horizons.mixing_periods(0.9)
    assert 0.9**m <= 0.01 < 0.9 ** (m - 1)  # the least m with a**m <= 1 %
    plain, slow = horizons.safe_horizons(structure), horizons.safe_horizons(ar)
    assert slow["train"].ignore_periods == 4 + m > plain["train"].ignore_periods
    assert slow["train"].periods > plain["train"].periods


def test_config_fixed_horizons_are_respected_and_null_derives():
    config = {"setting": "one_store_backlogged", "problem": {"lead_time": 20},
              "trainer": {"train": [1024, 20, 5], "dev": None}}
    _, _, trainer = run_config.build(config)
    assert trainer.train == Horizon(1024, 20, 5)
    assert trainer.dev == Horizon(32_768, 100, 60)  # after the fixed 20-period trace
    fixed = {"train": [2048, 30, 10], "dev": [256, 40, 20], "test": [256, 60, 30]}
    _, _, trainer = run_config.build({**config, "trainer": fixed})
    assert {s: list(getattr(trainer, s)) for s in fixed} == fixed


def test_resolved_config_records_the_derived_horizons():
    run = runner.resolve({"setting": "serial", "problem": {"lead_time": 3}})
    assert run.derived == ("train", "dev", "test")
    assert run.config["trainer"]["train"] == list(run.train_config.train)
    assert run.train_config.train.periods >= 100
    again = runner.resolve(run.config)  # a resumed run reads the same horizons
    assert again.train_config == run.train_config and again.derived == ()


def test_warning_when_test_departs_from_best_dev():
    tolerance = horizons.DEV_TEST_TOLERANCE
    assert horizons.dev_test_warnings(10.0 * (1 + tolerance / 2), 10.0) == []
    assert horizons.dev_test_warnings(10.0 * (1 - tolerance / 2), 10.0) == []
    high = horizons.dev_test_warnings(10.0 * (1 + 2 * tolerance), 10.0)
    low = horizons.dev_test_warnings(10.0 * (1 - 2 * tolerance), 10.0)
    assert len(high) == len(low) == 1
    assert f"{100 * 2 * tolerance:+.1f}%" in high[0] and "best dev" in high[0]
    assert horizons.dev_test_warnings(12.0, math.inf) == []  # never evaluated


def test_train_cost_is_after_warm_up_on_the_first_minibatch():
    problem = invjax.settings.make("one_store_backlogged", lead_time=4, underage_cost=9)
    policy = invjax.policies.base_stock(problem)
    config = TrainConfig(learning_rate=0.5, batch_size=64, epochs=2, eval_every=2,
                         train=(128, 30, 10), dev=(64, 40, 20))
    trainer = make_train(problem, policy, config)
    data = trainer.data(jax.random.key(0))
    state, metrics = trainer.run(trainer.init(jax.random.key(1)), data, 2)
    first = jax.tree.map(lambda x: x[:64], data["train"])
    after = invjax.simulate(problem, policy, state.params, first, 10, record=False)
    every = invjax.simulate(problem, policy, state.params, first, 0, record=False)
    assert float(metrics.train_cost) == pytest.approx(float(after.mean_cost), rel=1e-6)
    assert float(after.mean_cost) != pytest.approx(float(every.mean_cost), rel=1e-3)


def test_learning_curve_range_shows_both_series():
    train = [40.0, 9.0, 8.3, 8.09]  # e.g. counted over every period
    dev = [35.0, 7.5, 7.0, 6.87]
    low, high = y_limits([train, dev], optimum=6.84)
    for value in train[1:] + dev[1:] + [6.84]:
        assert low < value < high, (value, low, high)
    assert high < 35.0  # a first evaluation far above the rest does not set the range
    assert y_limits([[float("nan")]]) is None
