"""Sales loader: long and wide layouts agree, the stated rules, clear errors for bad
files, and windows that keep test periods out of training features (SPEC §10)."""

from __future__ import annotations

import builtins

import numpy as np
import pytest

from invjax.sales import history as hist
from invjax.sales.windows import (Window, Windows, check_windows, make_split, parse_window,
                                  series_costs, series_scale, store_groups)

DATES = [f"2024-01-{d:02d}" for d in (1, 8, 15, 22, 29)] + ["2024-02-05"]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _long_text(rows):
    return "date,series,store,sales\n" + "".join(f"{d},{s},{s[0]},{v}\n" for d, s, v in rows)


@pytest.fixture
def tables(tmp_path):
    rng = np.random.default_rng(0)
    sales = rng.integers(0, 9, (6, 3))
    names = ["a1", "b2", "c3"]
    rows = [(DATES[t], names[j], sales[t, j]) for t in range(6) for j in range(3)
            if not (t == 2 and j == 1)]  # b2 has no row in week 2: zero sales
    long = _write(tmp_path, "long.csv", _long_text(rows))
    wide_rows = [",".join([DATES[t]] + ["" if (t == 2 and j == 1) else str(sales[t, j])
                                         for j in range(3)]) for t in range(6)]
    wide = _write(tmp_path, "wide.csv", "date," + ",".join(names) + "\n" + "\n".join(wide_rows))
    expected = sales.astype(float)
    expected[2, 1] = 0.0
    return long, wide, expected


def test_long_and_wide_give_the_same_scenarios(tables):
    long, wide, expected = tables
    a, b = hist.read_csv(long), hist.read_csv(wide)
    np.testing.assert_array_equal(a.sales, expected)
    np.testing.assert_array_equal(a.sales, b.sales)
    np.testing.assert_array_equal(a.dates, b.dates)
    assert a.series == b.series == ("a1", "b2", "c3")
    windows = Windows(Window(0, 3), Window(1, 5), Window(2, 6))
    for h in (a, b):
        check_windows(windows, h, warmup=1)
    costs = series_costs(a, seed=3)
    np.testing.assert_array_equal(costs.margin, series_costs(b, seed=3).margin)
    scale = series_scale(a, windows.train)
    split = [make_split(h, windows.test, store_groups(3, 1), costs, scale, warehouses=0,
                        warmup=1, k=2) for h in (a, b)]
    np.testing.assert_array_equal(split[0].scenarios.demand, split[1].scenarios.demand)
    np.testing.assert_array_equal(split[0].scenarios.past_demand, split[1].scenarios.past_demand)
    np.testing.assert_array_equal(split[0].calendar, split[1].calendar)
    assert a.attributes["store"].tolist() == ["a", "b", "c"]


def test_numpy_reader_matches_pandas(tables, monkeypatch):
    pytest.importorskip("pandas")
    long, _, _ = tables
    with_pandas = hist.read_csv(long)
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    without = hist.read_csv(long)
    np.testing.assert_array_equal(with_pandas.sales, without.sales)
    assert with_pandas.series == without.series


def test_negative_sales_are_zero_demand_and_series_start_at_first_row(tmp_path):
    rows = [("1", "x", 3), ("2", "x", -2), ("3", "x", 4), ("2", "y", 5), ("3", "y", 1)]
    path = _write(tmp_path, "r.csv", "date,series,sales\n" +
                  "".join(f"{d},{s},{v}\n" for d, s, v in rows))
    h = hist.read_csv(path)
    np.testing.assert_array_equal(h.sales, [[3, 0], [0, 5], [4, 1]])
    np.testing.assert_array_equal(h.start, [0, 1])
    with pytest.raises(ValueError, match="'y' is too short"):
        check_windows(Windows(Window(0, 2), Window(0, 2), Window(1, 3)), h, warmup=0)


@pytest.mark.parametrize("text, match", [
    ("date,series\n2024-01-01,a\n", r"missing column\(s\) \['sales'\]"),
    ("day,a,b\n1,2,3\n", r"missing column \['date'\]"),
    ("date,series,sales\n2024-01-01,a,3\n2024-01-08,a,lots\n", "'sales' must be numeric.*'a'"),
    ("date,series,sales\n2024-01-01,a,3\n2024-01-01,a,4\n", "series 'a' has two rows"),
    ("date,a\n2024-01-01,3\n2024-01-08,x\n", "column 'a' must be numeric"),
    ("date,a\n2024-01-01,3\n2024-01-01,4\n", "'date' has duplicate dates"),
    ("date,series,sales\nsoon,a,3\n", "column 'date' must hold ISO dates"),
])
def test_bad_files_name_the_column_or_series(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        hist.read_csv(_write(tmp_path, "bad.csv", text))


def test_series_shorter_than_its_window(tmp_path):
    text = "date,a,b\n" + "".join(f"{t},{t},{'' if t < 3 else t}\n" for t in range(10))
    h = hist.read_csv(_write(tmp_path, "late.csv", text))
    with pytest.raises(ValueError, match="series 'b' is too short for the train window"):
        check_windows(Windows(Window(0, 6), Window(3, 8), Window(5, 10)), h, warmup=2)
    with pytest.raises(ValueError, match="windows.test: 3:4 periods|needs more than"):
        check_windows(Windows(Window(3, 6), Window(3, 8), Window(3, 4)), h, warmup=2)


def test_windows_do_not_leak_test_periods_into_training(tmp_path):
    periods = 60
    sales = np.arange(1, periods + 1, dtype=float)[:, None] + [0.0, 1000.0]  # unique values
    text = "date,a,b\n" + "".join(f"{t},{sales[t, 0]},{sales[t, 1]}\n" for t in range(periods))
    h = hist.read_csv(_write(tmp_path, "ramp.csv", text))
    windows = Windows(Window(0, 30), Window(20, 45), Window(28, 60))
    with pytest.raises(ValueError, match="inside the training window"):
        check_windows(windows, h, warmup=1)
    windows = windows._replace(test=Window(26, 60))
    check_windows(windows, h, warmup=4)
    costs, scale = series_costs(h), series_scale(h, windows.train)
    np.testing.assert_allclose(scale, sales[:30].mean(0))  # the training window alone
    train = make_split(h, windows.train, store_groups(2, 1), costs, scale, warehouses=0,
                       warmup=4, k=5)
    test_values = set(sales[windows.test.start + 4:].ravel())
    seen = set(np.asarray(train.scenarios.demand).ravel()) | set(
        np.asarray(train.scenarios.past_demand).ravel())
    assert not seen & test_values
    test = make_split(h, windows.test, store_groups(2, 1), costs, scale, warehouses=0,
                      warmup=4, k=5)
    np.testing.assert_array_equal(test.scenarios.past_demand[0, 0], sales[21:26, 0])


def test_parse_window_by_dates_and_periods(tables):
    h = hist.read_csv(tables[0])
    assert parse_window("1:4", h) == Window(1, 4)
    assert parse_window("2024-01-08:2024-01-29", h) == Window(1, 4)
    with pytest.raises(ValueError, match="train: 'x'"):
        parse_window("x", h, "train")


def test_costs_from_columns(tmp_path):
    text = ("date,series,sales,margin,lead_time\n"
            "1,a,3,5.0,2\n2,a,4,5.0,2\n1,b,1,8.0,3\n2,b,0,8.0,3\n")
    costs = series_costs(hist.read_csv(_write(tmp_path, "c.csv", text)))
    np.testing.assert_array_equal(costs.margin, [5.0, 8.0])
    np.testing.assert_array_equal(costs.lead_time, [2, 3])
    np.testing.assert_array_equal(costs.holding_cost, [1.0, 1.0])
    bad = text.replace("1,b,1,8.0,3", "1,b,1,7.0,3")
    with pytest.raises(ValueError, match="'margin' must be constant within series 'b'"):
        hist.read_csv(_write(tmp_path, "d.csv", bad))


def test_shipped_history_loads():
    from invjax.sales.synthetic import shipped_path

    h = hist.read_csv(shipped_path())
    assert h.sales.shape == (172, 120) and h.has_dates
    assert h.sales.min() >= 0 and np.all(h.start == 0)
    volume = h.sales.mean(0)
    assert volume.max() / volume.min() > 100  # very different volumes
    assert (h.sales == 0).mean(0).max() > 0.5  # intermittent slow movers


def test_scenarios_from_csv_reads_both_layouts(tables):
    from invjax.sales.problem import make_problem_for
    from invjax.scenarios import from_csv

    long, wide, expected = tables
    problem = make_problem_for(3, 2, warehouses=1)
    for path in (long, wide):
        sc = from_csv(problem, path, window=3, stride=2)
        np.testing.assert_array_equal(sc.demand, np.stack([expected[0:3], expected[2:5]]))
    with pytest.raises(ValueError, match="expected 1 series"):
        from_csv(make_problem_for(1, 2, warehouses=0), wide, window=3)
