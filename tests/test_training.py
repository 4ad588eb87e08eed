"""HDPO training: reaches the closed-form optimum; resume ends where an uninterrupted run does."""

import jax
import numpy as np

import invjax
from invjax.train import TrainConfig, make_train, runner

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


def test_resume_matches_uninterrupted(tmp_path):
    a = runner.fit(SMALL, tmp_path / "a", progress=False)
    stopped = runner.fit(SMALL, tmp_path / "b", progress=False, stop_after_epochs=10)
    assert stopped == {"interrupted_at_epoch": 10}
    b = runner.fit(SMALL, tmp_path / "b", progress=False, resume=True)
    assert a["test_cost"] == b["test_cost"] and a["best_dev"] == b["best_dev"]
    for name in ("summary.json", "metrics.csv", "metrics.json", "learning_curve.png", "config.yaml"):
        assert (tmp_path / "b" / name).exists(), name
    assert np.isfinite(runner.evaluate_run(tmp_path / "b")["test_cost"])
