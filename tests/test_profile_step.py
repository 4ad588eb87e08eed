"""`benchmarks/profile_step.py`: a speed row's step, op by op, named by pass and layer."""

import jax
import jax.numpy as jnp
import pytest

from benchmarks import profile_step


def test_hlo_ops_name_the_pass_and_the_layer():
    def loss(w, x):
        return jnp.sum(jnp.tanh(x @ w) ** 2)

    w, x = jnp.ones((4, 3)), jnp.ones((8, 4))
    text = jax.jit(jax.grad(loss)).lower(w, x).compile().as_text()
    described = profile_step.hlo_ops(text).values()
    assert any(d.startswith("forward: ") for _, d in described)
    assert any(d.startswith("backward: ") for _, d in described)
    assert profile_step.describe(
        "jit(step)/transpose(jvp(jit(_simulate)))/while/body/closed_call/checkpoint/"
        "Net/context/layers_1/dot_general") == "backward: Net/context/layers_1/dot_general"


def test_profile_times_the_rows_step_op_by_op():
    result = profile_step.profile("one_store base_stock", None, 1)
    assert result["row"] == "one_store base_stock b8192" and result["step_ms"] > 0
    assert result["loops_ms"]  # the scan over the periods
    ops = result["ops"]
    assert ops and all(op["ms"] >= 0 and op["from"].split(":")[0] in ("forward", "backward")
                       for op in ops)
    assert sum(op["ms"] for op in ops) <= 1.5 * result["step_ms"] + 1.0
    assert "| op | ms per step |" in profile_step.markdown(result, 5)


def test_unknown_row_is_rejected_by_name():
    with pytest.raises(ValueError, match="row: no speed row starts with 'two_store'"):
        profile_step.profile("two_store", None, 1)
    with pytest.raises(ValueError, match="steps: 0; allowed: a positive integer"):
        profile_step.profile("one_store base_stock", None, 0)


def test_top_below_one_is_rejected_before_any_run(capsys):
    with pytest.raises(SystemExit):
        profile_step.main(["no such row", "--top", "0"])
    assert "--top: 0; allowed: a positive integer" in capsys.readouterr().err
