"""`invjax train --data`: prints profit vs the baselines and the oracle, writes a report;
bad input is one line on stderr and exit status 2."""

from __future__ import annotations

import json

from invjax.cli import main
from invjax.sales import synthetic


def test_train_on_a_csv(tmp_path, capsys):
    path = tmp_path / "sales.csv"
    synthetic.write(path, n_stores=3, n_items=2, weeks=80, seed=1)
    code = main(["train", "--data", str(path), "--stores", "2", "--warehouses", "2",
                 "--steps", "4",
                 "--forecast-steps", "20", "--policies", "data_driven,quantile_nv",
                 "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0
    assert "2 warehouses with 2 stores each" in out and "% of oracle" in out
    report = json.loads((tmp_path / "run" / "sales_report.json").read_text())
    assert set(report["profit"]) == {"data_driven", "quantile_nv", "oracle"}
    assert report["pct_oracle"]["oracle"] == 100.0
    assert len(report["series_profit"]["oracle"]) == 6


def test_bad_sales_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("date,series,sales\n2024-01-01,a,3\n2024-01-08,a,many\n")
    assert main(["train", "--data", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "column 'sales' must be numeric" in err[0]
