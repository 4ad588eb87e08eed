"""Policies on any network: which policy fits which network (one registry), feasible
flows on every network a policy claims to fit, the paper's heads and nets against
independent NumPy re-implementations from SPEC §4 and §7, many-warehouse store
permutation equivariance, chains of any length and layout.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Sections 5-6; SPEC §4, §7.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import INSTANCES, make_instance

import invjax
from invjax import policies
from invjax.network import SUPPLIER, Edge, Location, Network
from invjax.networks import chain
from invjax.policies import neural, registry
from invjax.policies.symmetry_aware import permute_stores, symmetry_aware
from invjax.problem import Structure, make_problem

N, PERIODS = 3, 5
SMALL = {"vanilla": dict(hidden=(8, 8)),
         "symmetry_aware": dict(context_size=8, context_hidden=(8,), store_hidden=(8, 8),
                                warehouse_hidden=(8,))}
SMALL["symmetry_aware_unshared"] = SMALL["symmetry_aware"]
V2 = ("one_store_backlogged", "one_store_lost", "serial", "transshipment", "one_warehouse")


def _general_network() -> Network:
    """supplier -> echelon -> {w0 (keeps nothing), w1}; stores fed by w0, w1 and the
    supplier: topology "general"."""
    locs = (Location("top", "echelon"), Location("w0", "warehouse", keeps_stock=False),
            Location("w1", "warehouse"), Location("a", "store", 2), Location("b", "store", 2),
            Location("c", "store", 2))
    edges = (Edge(SUPPLIER, "top", 2), Edge("top", "w0", 1), Edge("top", "w1", 2),
             Edge("w0", "a", 1), Edge("w1", "a", 2), Edge("w1", "b", 1),
             Edge(SUPPLIER, "b", 3), Edge("w0", "c", 2))
    return Network(locs, edges)


def _two_level_network() -> Network:
    """supplier -> {w0 (keeps nothing), w1} -> stores, store b also fed by the supplier:
    topology "general", but two-level."""
    locs = (Location("w0", "warehouse", keeps_stock=False), Location("w1", "warehouse"),
            Location("a", "store", 2), Location("b", "store", 2), Location("c", "store", 2))
    edges = (Edge(SUPPLIER, "w0", 2), Edge(SUPPLIER, "w1", 1), Edge("w0", "a", 1),
             Edge("w1", "a", 2), Edge("w1", "b", 1), Edge(SUPPLIER, "b", 3),
             Edge("w0", "c", 2))
    return Network(locs, edges)


def _problem(network, lost=True):
    s = Structure("custom", network, lost_demand=lost)
    n = network.count("store")
    return make_problem(s, holding_cost=1.0, underage_cost=np.linspace(4, 9, n),
                        demand_mean=np.linspace(3, 7, n), demand_std=1.5,
                        warehouse_holding_cost=0.3, echelon_holding_cost=0.1)


PROBLEMS = {**{i: (lambda i=i: make_instance(i)) for i in INSTANCES},
            "general": lambda: _problem(_general_network()),
            "two_level": lambda: _problem(_two_level_network(), lost=False)}


def _rollout_actions(problem, policy, params, key):
    """(states, actions) of a few periods from a sampled state with stocked upstream."""
    k_scen, k_up = jax.random.split(key)
    scenarios = invjax.scenarios.sample(problem, k_scen, N, PERIODS)
    env = invjax.Env(problem)
    state = env.reset(scenarios)
    up = jax.random.uniform(k_up, state.warehouse_inventory.shape, maxval=40.0)
    echelon = jnp.zeros_like(state.echelon_inventory).at[..., 0].set(30.0)  # on hand only
    state = state.replace(warehouse_inventory=up, echelon_inventory=echelon)
    apply, step = jax.jit(policy.apply), jax.jit(env.step)
    out = []
    for t in range(PERIODS):
        action = apply(params, state)
        out.append((state, action))
        state, _ = step(state, action, scenarios.demand[:, t])
    return out


def _random_params(policy, seed: int):
    """Parameters of `policy.init`'s shapes drawn from N(0, 0.5^2) by NumPy: feasibility
    must hold for any parameters, and tracing `init` abstractly checks it builds on the
    network without compiling it (a compile per policy and network is most of this
    file's time; `test_init_under_jit_equals_eager_init` compiles each policy's once)."""
    shapes = jax.eval_shape(policy.init, jax.random.key(seed))
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(0.5 * rng.standard_normal(s.shape), s.dtype),
                        shapes)


def _assert_feasible(network, state, action):
    """Written from SPEC §7: every flow finite and >= 0; no location ships more than
    its on-hand; one that keeps no stock ships all of it (unless its policy wants
    nothing shipped at all: proportional allocation of zero desired flows is zero)."""
    groups = {"store": action.stores, "warehouse": action.warehouses,
              "echelon": action.echelons}
    for kind, flows in groups.items():
        count = len(network.edges_into(kind))
        if count:
            assert flows.shape == (N, count), (kind, flows.shape)
            assert np.all(np.isfinite(flows)) and np.all(np.asarray(flows) >= 0)
    for loc in network.suppliers():
        kind, i = network.index(loc.name)
        held = np.maximum(np.asarray(getattr(state, f"{kind}_inventory"))[:, i, 0], 0)
        shipped = sum(np.asarray(groups[g])[:, j] for g, j in network.outbound(loc.name))
        assert np.all(shipped <= held * (1 + 1e-5) + 1e-4), loc.name
        if not loc.keeps_stock:
            wanted = shipped > 0
            np.testing.assert_allclose(shipped[wanted], held[wanted], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("instance", sorted(PROBLEMS))
def test_every_fitting_policy_runs_feasibly_and_the_rest_are_rejected(instance):
    problem = PROBLEMS[instance]()
    network = problem.structure.network
    fitting = registry.fitting(network)
    assert "vanilla" in fitting
    for k, name in enumerate(policies.names()):
        if name not in fitting:
            with pytest.raises(ValueError, match="policies for this network") as info:
                policies.make(name, problem)
            assert str(fitting) in str(info.value)
            continue
        policy = policies.make(name, problem, **SMALL.get(name, {}))
        params = _random_params(policy, k)
        for state, action in _rollout_actions(problem, policy, params, jax.random.key(99)):
            _assert_feasible(network, state, action)


def _first_fitting(name: str) -> str:
    return next(i for i in sorted(PROBLEMS)
                if name in registry.fitting(PROBLEMS[i]().structure.network))


@pytest.mark.parametrize("name", policies.names())
def test_init_under_jit_equals_eager_init(name):
    """Once per policy (eager Flax init is slow): the jitted init the trainer runs gives
    the parameters a notebook's eager `init` does."""
    problem = PROBLEMS[_first_fitting(name)]()
    policy = policies.make(name, problem, **SMALL.get(name, {}))
    eager = policy.init(jax.random.key(3))
    traced = jax.jit(policy.init)(jax.random.key(3))
    assert jax.tree.structure(eager) == jax.tree.structure(traced)
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(traced)):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=name)


def test_fits_follow_the_topology():
    expect = {
        "one_store_lost": ["base_stock", "capped_base_stock", "vanilla", "gnn"],
        "independent_stores": ["base_stock", "capped_base_stock", "vanilla",
                               "symmetry_aware", "symmetry_aware_unshared", "gnn"],
        "serial_long": ["echelon_stock", "vanilla", "gnn"],
        "serial_chain_5": ["echelon_stock", "vanilla", "gnn"],
        "transshipment": ["base_stock_allocation", "vanilla", "symmetry_aware",
                          "symmetry_aware_unshared", "gnn"],
        "many_warehouses": ["base_stock_allocation", "vanilla", "symmetry_aware",
                            "symmetry_aware_unshared", "gnn"],
        "general": ["vanilla", "gnn"],
        "two_level": ["base_stock_allocation", "vanilla", "symmetry_aware",
                      "symmetry_aware_unshared", "gnn"],
    }
    for instance, names in expect.items():
        assert registry.fitting(PROBLEMS[instance]().structure.network) == names, instance
    # Unregistered policies ask the same place.
    from invjax.policies.context_base_stock import context_base_stock

    with pytest.raises(ValueError, match="one-warehouse networks.*policies for this network"):
        context_base_stock(make_instance("many_warehouses"))


def test_default_policy_from_the_network():
    for name in V2:
        expected = "symmetry_aware" if name == "one_warehouse" else "vanilla"
        assert policies.default_for(name) == expected
        assert policies.default_for(invjax.settings.make(name)) == expected
    assert policies.default_for(make_instance("many_warehouses")) == "symmetry_aware"
    assert policies.default_for(make_instance("independent_stores")) == "vanilla"
    assert policies.default_for(PROBLEMS["general"]().structure) == "vanilla"


# ---- NumPy re-implementations (SPEC §4, §7) -----------------------------------------

def _np(x):
    return np.asarray(x, np.float64)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _mlp(layers, x):
    """Dense layers {"layers_i": {"kernel", "bias"}}, ELU between, last linear."""
    for i in range(len(layers)):
        x = x @ _np(layers[f"layers_{i}"]["kernel"]) + _np(layers[f"layers_{i}"]["bias"])
        if i < len(layers) - 1:
            x = _elu(x)
    return x


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _cap(state):
    return 4 * _np(state.params.demand_mean).sum(-1)


def _numpy_vanilla(problem, params, state):
    """SPEC §4 vanilla heads (one store, serial, one warehouse) and the per-edge head of
    §7 elsewhere, on inputs scaled by the sum of store means; flows per edge group."""
    net, n = problem.structure.network, N
    inv = [_np(getattr(state, f"{k}_inventory")).reshape(n, -1)
           for k in ("store", "warehouse", "echelon")]
    out = _mlp(params["params"], np.concatenate(inv, -1) / _np(state.params.demand_mean).sum(
        -1, keepdims=True))
    on_hand = {loc.name: np.maximum(_np(getattr(state, f"{net.index(loc.name)[0]}_inventory"))[
        :, net.index(loc.name)[1], 0], 0) for loc in net.locations}
    topology = net.topology
    if topology in ("one_store", "independent_stores"):
        return {"store": np.log1p(np.exp(out + 1))}
    if topology == "serial":  # stages upstream first: echelons, warehouse, store
        names = [loc.name for k in ("echelon", "warehouse", "store") for loc in net.of_kind(k)]
        upstream = np.stack([_cap(state)] + [on_hand[m] for m in names[:-1]], -1)
        order = _sigmoid(out) * upstream
        e = net.count("echelon")
        return {"echelon": order[:, :e], "warehouse": order[:, e:e + 1], "store": order[:, -1:]}
    flat = [(k, j, e) for k in ("store", "warehouse", "echelon")
            for j, e in enumerate(net.edges_into(k))]
    flows = np.zeros((n, len(flat)))
    for pos, (_, _, e) in enumerate(flat):
        if e.source == SUPPLIER:
            flows[:, pos] = _sigmoid(out[:, pos]) * _cap(state)
    for loc in net.suppliers():
        mine = [pos for pos, (_, _, e) in enumerate(flat) if e.source == loc.name]
        logits = out[:, mine]
        if loc.keeps_stock:
            logits = np.concatenate([logits, np.ones((n, 1))], -1)
        flows[:, mine] = _softmax(logits)[:, :len(mine)] * on_hand[loc.name][:, None]
    groups = {}
    for pos, (k, _, _) in enumerate(flat):
        groups.setdefault(k, []).append(flows[:, pos])
    return {k: np.stack(v, -1) for k, v in groups.items()}


def _compare(action, expected, rtol=1e-5):
    fields = {"store": action.stores, "warehouse": action.warehouses,
              "echelon": action.echelons}
    for kind, value in expected.items():
        if value.shape[-1]:
            np.testing.assert_allclose(fields[kind], value, rtol=rtol, atol=1e-5, err_msg=kind)


@pytest.mark.parametrize("instance", ["one_store_backlogged", "one_store_lost", "serial",
                                      "serial_long", "transshipment", "one_warehouse",
                                      "independent_stores", "many_warehouses", "general",
                                      "two_level"])
def test_vanilla_equals_numpy(instance):
    problem = PROBLEMS[instance]()
    s = problem.structure
    policy = neural.vanilla(problem, hidden=(8, 8))
    params = policy.init(jax.random.key(0))
    # Parameter shapes from SPEC §4 / §7: the flattened state in, one output per order.
    width = (s.n_stores * s.store_slots + s.n_warehouses * s.warehouse_slots
             + s.n_echelons * s.echelon_slots)
    outputs = {"one_store": s.n_stores, "independent_stores": s.n_stores,
               "serial": len(s.network.locations), "one_warehouse": s.n_stores + 1,
               "transshipment": s.n_stores + 1}.get(s.network.topology, len(s.network.edges))
    assert params["params"]["layers_0"]["kernel"].shape == (width, 8)
    assert params["params"]["layers_2"]["kernel"].shape == (8, outputs)
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(1))[::2]:
        _compare(action, _numpy_vanilla(problem, params, state))


@pytest.mark.parametrize("instance", ["one_warehouse", "transshipment"])
def test_general_head_is_the_one_warehouse_head(instance):
    """The per-edge head of §7 reduces to the paper's one-warehouse head, bit for bit."""
    problem = make_instance(instance)
    policy = neural.vanilla(problem, hidden=(8,))
    params = policy.init(jax.random.key(2))
    for state, _ in _rollout_actions(problem, policy, params, jax.random.key(3))[:2]:
        out = jax.random.normal(jax.random.key(4), (N, problem.structure.n_stores + 1))
        old = neural._heads(problem.structure, out, state)
        new = neural.general_heads(problem.structure.network, out, state)
        np.testing.assert_array_equal(old.stores, new.stores)
        np.testing.assert_array_equal(old.warehouses, new.warehouses)
        assert new.echelons is None


def _numpy_symmetry_aware(problem, params, state):
    """SPEC §4 symmetry-aware net on one warehouse: context from scaled store and
    warehouse vectors, warehouse net, shared store net, proportional allocation."""
    p, n = params["params"], N
    mean = _np(state.params.demand_mean)
    store = _np(state.store_inventory)
    warehouse = _np(state.warehouse_inventory)[:, 0]
    context_in = np.concatenate([(store / mean[..., None]).reshape(n, -1),
                                 warehouse / mean.sum(-1, keepdims=True)], -1)
    context = _sigmoid(_mlp(p["context"], context_in))
    w_in = np.concatenate([warehouse / mean.sum(-1, keepdims=True), context], -1)
    warehouse_order = _sigmoid(_mlp(p["warehouse"], w_in))[:, 0] * _cap(state)
    feats = [_np(getattr(state.params, f)) for f in ("demand_mean", "demand_std",
                                                     "underage_cost", "lead_time")]
    own = np.concatenate([store, np.stack(feats, -1)], -1)
    tiled = np.broadcast_to(context[:, None], own.shape[:2] + context.shape[-1:])
    desired = np.log1p(np.exp(_mlp(p["store"], np.concatenate([own, tiled], -1))[..., 0]))
    held = np.maximum(warehouse[:, 0], 0)
    ratio = held / desired.sum(-1)
    if problem.structure.network.location("warehouse").keeps_stock:
        ratio = np.minimum(ratio, 1.0)
    return {"store": desired * ratio[:, None], "warehouse": warehouse_order[:, None]}


@pytest.mark.parametrize("instance", ["one_warehouse", "transshipment"])
def test_symmetry_aware_on_one_warehouse_equals_numpy(instance):
    problem = make_instance(instance)
    policy = symmetry_aware(problem, **SMALL["symmetry_aware"])
    params = policy.init(jax.random.key(5))
    s = problem.structure
    assert params["params"]["context"]["layers_0"]["kernel"].shape == (
        s.n_stores * s.store_slots + s.warehouse_slots, 8)
    assert params["params"]["store"]["layers_0"]["kernel"].shape == (s.store_slots + 4 + 8, 8)
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(6))[::2]:
        _compare(action, _numpy_symmetry_aware(problem, params, state), rtol=2e-5)


def _permuted(problem, perm):
    """The same network with its stores listed in order `perm` (new store j = old store
    perm[j]), and for every new store edge the position of the same edge before."""
    net = problem.structure.network
    stores = net.of_kind("store")
    others = tuple(loc for loc in net.locations if loc.kind != "store")
    moved = Network(others + tuple(stores[i] for i in perm), net.edges)
    old = {(e.source, e.destination): j for j, e in enumerate(net.edges_into("store"))}
    edge_perm = np.asarray([old[(e.source, e.destination)] for e in moved.edges_into("store")])
    return dataclasses.replace(problem.structure, network=moved), edge_perm


@pytest.mark.parametrize("instance", ["many_warehouses", "independent_stores"])
def test_symmetry_aware_is_store_permutation_equivariant_on_networks(instance):
    problem = make_instance(instance)
    assert problem.structure.network.topology == instance
    perm = np.random.default_rng(0).permutation(problem.structure.n_stores)
    structure, edge_perm = _permuted(problem, perm)
    for shared, key in ((True, 7), (False, 8)):
        policy = symmetry_aware(problem, shared=shared, **SMALL["symmetry_aware"])
        params = _random_params(policy, key)
        moved_policy = symmetry_aware(structure, shared=shared, **SMALL["symmetry_aware"])
        moved_apply = jax.jit(moved_policy.apply)
        moved_params = permute_stores(params, perm, problem.structure)
        for state, action in _rollout_actions(problem, policy, params, jax.random.key(9))[::2]:
            p = state.params
            store_fields = {f: getattr(p, f)[:, perm] for f in
                            ("holding_cost", "underage_cost", "demand_mean", "demand_std")}
            edge_fields = {f: getattr(p, f)[:, edge_perm] for f in
                           ("lead_time", "procurement_cost")}
            moved_state = state.replace(store_inventory=state.store_inventory[:, perm],
                                        past_demand=state.past_demand[:, perm],
                                        params=p.replace(**store_fields, **edge_fields))
            moved = moved_apply(moved_params, moved_state)
            np.testing.assert_allclose(moved.stores, action.stores[:, edge_perm],
                                       rtol=1e-5, atol=1e-5)
            if action.warehouses is not None:
                np.testing.assert_allclose(moved.warehouses, action.warehouses, rtol=1e-5,
                                           atol=1e-5)


def test_many_warehouse_stores_read_their_edges_and_suppliers():
    """Features: (mean, std, p, inbound lead times padded with 0); the store net's
    flows follow the warehouse stock on the edges it reads."""
    problem = make_instance("many_warehouses")
    net = problem.structure.network
    policy = symmetry_aware(problem, **SMALL["symmetry_aware"])
    params = policy.init(jax.random.key(10))
    (state, action), *_ = _rollout_actions(problem, policy, params, jax.random.key(11))
    feats = np.asarray(neural.per_store_features(state, net))
    edges = net.edges_into("store")
    for i, loc in enumerate(net.of_kind("store")):
        leads = [float(state.params.lead_time[0, j]) for j, e in enumerate(edges)
                 if e.destination == loc.name]
        np.testing.assert_array_equal(feats[0, i, 3:], leads + [0.0] * (2 - len(leads)))
        assert feats[0, i, 0] == state.params.demand_mean[0, i]
    assert neural.total_mean(state).shape == (N, 1)
    np.testing.assert_allclose(neural.supplier_cap(state)[:, 0], _cap(state), rtol=1e-6)
    with pytest.raises(ValueError, match="network"):
        neural.per_store_features(state)


def _numpy_base_stock_allocation(problem, params, state):
    """The documented many-warehouse rule, edge by edge."""
    net = problem.structure.network
    edges = net.edges_into("store")
    level = np.log1p(np.exp(_np(params["store_level"])))
    position = _np(state.store_inventory).sum(-1)
    logits = _np(params.get("split", np.zeros(len(edges))))
    share = np.zeros(len(edges))
    for loc in net.of_kind("store"):
        mine = [j for j, e in enumerate(edges) if e.destination == loc.name]
        share[mine] = _softmax(logits[mine])
    store_index = [net.index(e.destination)[1] for e in edges]
    desired = np.maximum(level[store_index] - position[:, store_index], 0) * share
    warehouse = _np(state.warehouse_inventory)
    flows, orders = desired.copy(), []
    for w, loc in enumerate(net.of_kind("warehouse")):
        mine = [j for j, e in enumerate(edges) if e.source == loc.name]
        echelon = warehouse[:, w].sum(-1) + (position[:, store_index][:, mine]
                                             * share[mine]).sum(-1)
        orders.append(np.maximum(np.log1p(np.exp(_np(params["warehouse_level"][w]))) - echelon,
                                 0))
        held = np.maximum(warehouse[:, w, 0], 0)
        total = desired[:, mine].sum(-1)
        ratio = np.minimum(1.0, np.divide(held, total, out=np.zeros_like(total),
                                          where=total > 0))
        flows[:, mine] = desired[:, mine] * ratio[:, None]
    return {"store": flows, "warehouse": np.stack(orders, -1)}


@pytest.mark.parametrize("instance", ["many_warehouses", "many_warehouses_3x20"])
def test_base_stock_allocation_on_many_warehouses_equals_numpy(instance):
    problem = make_instance(instance)
    policy = policies.base_stock_allocation(problem)
    net = problem.structure.network
    split = np.random.default_rng(1).normal(size=len(net.edges_into("store")))
    params = policy.params_for(store_level=np.linspace(8, 20, problem.structure.n_stores),
                               split_logits=split)
    assert set(params) == {"store_level", "warehouse_level", "split"}
    init = policy.init(jax.random.key(0))  # 10 per store served, shares equal
    served = sum(1 / len(net.inbound(e.destination)) for e in net.edges_into("store")
                 if e.source == net.of_kind("warehouse")[0].name)
    np.testing.assert_allclose(jax.nn.softplus(init["warehouse_level"][0]), 10 * served,
                               rtol=1e-5)
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(12))[::2]:
        _compare(action, _numpy_base_stock_allocation(problem, params, state))


@pytest.mark.parametrize("stages", [3, 4, 5, 6, 7])
def test_echelon_stock_on_chains_of_any_length_and_layout(stages):
    """serial_chain of 3..7 stages: feasible; and the same chain written with its kinds
    in another order (so that the kind-major layout is not the chain order) gives the
    same flows stage by stage."""
    problem = invjax.settings.make("serial_chain", n_stages=stages)
    net = problem.structure.network
    policy = policies.make("echelon_stock", problem)
    levels = np.cumsum(np.arange(stages, 0, -1) * 6.0)[::-1]
    params = policy.params_for(levels)
    runs = _rollout_actions(problem, policy, params, jax.random.key(stages))
    for state, action in runs:
        _assert_feasible(net, state, action)
    # Relabel: stage 1 becomes a warehouse and the last upstream stage an echelon.
    order = [loc for loc in _chain_locations(net)]
    kinds = ["echelon"] * (stages - 1) + ["store"]
    kinds[0], kinds[-2] = "warehouse", "echelon"
    lead = [e.lead_time for e in _chain_edges(net)]
    other = chain([loc.name for loc in order], kinds, lead, [loc.slots for loc in order])
    assert other.topology == "serial"
    relabelled = dataclasses.replace(problem.structure, network=other)
    other_policy = policies.echelon_stock(make_problem(
        relabelled, holding_cost=problem.params.holding_cost,
        underage_cost=problem.params.underage_cost, demand_mean=problem.params.demand_mean,
        demand_std=problem.params.demand_std))
    for state, action in runs[:2]:
        flows = _stage_flows(net, action)
        other_state = _restage(net, other, state)
        np.testing.assert_array_equal(
            flows, _stage_flows(other, other_policy.apply(params, other_state)))


def _chain_locations(net):
    return [net.location(e.destination) for e in _chain_edges(net)]


def _chain_edges(net):
    edges, current = [], SUPPLIER
    while not edges or net.location(current).kind != "store":
        (edge,) = [e for e in net.edges if e.source == current]
        edges.append(edge)
        current = edge.destination
    return edges


def _stage_flows(net, action):
    groups = {"store": action.stores, "warehouse": action.warehouses,
              "echelon": action.echelons}
    return np.stack([np.asarray(groups[net.index(loc.name)[0]])[:, net.index(loc.name)[1]]
                     for loc in _chain_locations(net)], -1)


def _restage(net, other, state):
    """`state` of chain `net` as a state of the same chain labelled as `other`."""
    vectors = {}
    for loc in _chain_locations(net):
        kind, i = net.index(loc.name)
        vectors[loc.name] = getattr(state, f"{kind}_inventory")[:, i]
    fields = {}
    for kind in ("store", "warehouse", "echelon"):
        locs = other.of_kind(kind)
        width = other.width(kind)
        # Slots past a stage's own lead time are empty: trim or pad to the new width.
        rows = [vectors[loc.name][:, :width] for loc in locs]
        rows = [jnp.pad(r, ((0, 0), (0, width - r.shape[-1]))) for r in rows]
        fields[f"{kind}_inventory"] = (jnp.stack(rows, 1) if rows
                                       else jnp.zeros((N, 0, width), jnp.float32))
    return state.replace(**fields)
