"""A short HDPO training of the data-driven net on the shipped history beats the
QuantileNV baseline on the test window, and both stay below the oracle (SPEC §10)."""

from __future__ import annotations

from invjax.sales import compare
from invjax.sales.history import read_csv
from invjax.sales.synthetic import shipped_path
from invjax.sales.train import SalesTrainConfig


def test_short_hdpo_beats_quantile_newsvendor():
    history = read_csv(shipped_path())
    config = SalesTrainConfig(steps=120, eval_every=40, forecast_steps=800)
    report = compare.compare(history, 1, config=config,
                             policies=("data_driven", "quantile_nv"))
    profit = report["profit"]
    assert profit["data_driven"] > profit["quantile_nv"] > 0
    assert profit["oracle"] > profit["data_driven"]
    assert 0 < report["pct_oracle"]["data_driven"] < 100
