"""invjax: inventory networks as pure, differentiable JAX dynamics, trained by HDPO.

References: Alvo, Russo, Kanoria (2023), "Neural Inventory Control in Networks via
Hindsight Differentiable Policy Optimization", arXiv 2306.11246.
"""

from invjax import network, networks, optimal, policies, scenarios, settings
from invjax.dynamics import Action, Env, LocationCost, State
from invjax.network import Edge, Location, Network
from invjax.problem import Demand, Params, Problem, Structure, make_problem
from invjax.rollout import SimulationResult, hindsight_cost, simulate
from invjax.scenarios import Scenarios

__version__ = "0.1.0"

__all__ = [
    "Action", "Demand", "Edge", "Env", "Location", "LocationCost", "Network", "Params",
    "Problem", "Scenarios", "SimulationResult", "State", "Structure", "hindsight_cost",
    "make_problem", "network", "networks", "optimal", "policies", "scenarios", "settings",
    "simulate",
]
