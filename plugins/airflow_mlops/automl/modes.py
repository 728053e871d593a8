"""Autopilot modes: how hard the sweep tries, as a trial count and a wall-clock budget.

Named after DataRobot's Autopilot modes so its users know what to expect.
Every mode searches every registered family with staged fidelity; they differ
in how many candidates and how much time they get, and in the pruner:
``comprehensive`` uses Hyperband, which hedges successive halving's bet that
a candidate's rank on a small sample predicts its rank on all of it.
Explicit ``n_trials`` / ``timeout_s`` on a sweep override its mode's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PrunerKind = Literal["successive_halving", "hyperband", "none"]
PRUNERS: tuple[PrunerKind, ...] = ("successive_halving", "hyperband", "none")


@dataclass(frozen=True)
class AutopilotMode:
    """A named budget: the sweep stops at whichever of ``n_trials`` and ``timeout_s`` comes first."""

    name: str
    n_trials: int
    timeout_s: float
    pruner: PrunerKind


AUTOPILOT_MODES: dict[str, AutopilotMode] = {
    mode.name: mode
    for mode in (
        AutopilotMode("quick", n_trials=16, timeout_s=120.0, pruner="successive_halving"),
        AutopilotMode("auto", n_trials=64, timeout_s=900.0, pruner="successive_halving"),
        AutopilotMode("comprehensive", n_trials=400, timeout_s=3600.0, pruner="hyperband"),
    )
}
DEFAULT_MODE = "auto"


def get_mode(name: str) -> AutopilotMode:
    """Look a mode up by name; the error lists the valid ones."""
    try:
        return AUTOPILOT_MODES[name]
    except KeyError:
        raise ValueError(
            f"mode={name!r} is not valid; expected one of {', '.join(map(repr, AUTOPILOT_MODES))}"
        ) from None
