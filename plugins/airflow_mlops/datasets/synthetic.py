"""A synthetic customer-churn dataset with knobs for the failures MLOps must catch.

The whole lifecycle (training, drift monitoring, accuracy monitoring, retraining)
has to be demonstrable and testable without private data, so the generator is
built around three periods that isolate one kind of change each:

* ``reference``: the world the first model is trained on.
* ``shifted``: *data drift* only. Feature distributions move (newer customers,
  higher charges, more month-to-month contracts and fiber) but the probability of
  churning given the features is unchanged, so drift monitors fire while a good
  model keeps most of its ranking quality.
* ``launch``: *data drift a model cannot shrug off*. The ``shifted`` customers
  plus a new internet plan, ``fiber-gigabit`` (40% of customers, higher
  charges), that no training row has. The relation is still the reference one,
  whose gigabit term (a promotion: these customers rarely churn) was always
  there but never seen, so a model trained before the launch extrapolates
  badly and one trained on launch data ranks customers far better.
* ``concept``: *concept drift* only. Features are drawn exactly as in
  ``reference`` (or as in the period named by ``features``) but the relation to
  the target changes, so drift monitors stay quiet while accuracy collapses;
  only ground truth reveals it.

Everything is a pure function of ``(seed, period, features)``: the same arguments give the
same frame byte for byte, which keeps tests and benchmark numbers stable.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

Period = Literal["reference", "shifted", "launch", "concept"]

CONTRACTS: tuple[str, ...] = ("month-to-month", "one-year", "two-year")
PAYMENT_METHODS: tuple[str, ...] = ("electronic check", "mailed check", "bank transfer", "credit card")
INTERNET_SERVICES: tuple[str, ...] = ("DSL", "fiber", "none")
#: The plan launched in the ``launch`` period (absent from every other period).
LAUNCH_SERVICE = "fiber-gigabit"
LAUNCH_SHARE = 0.4
FEATURE_COLUMNS: tuple[str, ...] = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "contract",
    "payment_method",
    "internet_service",
    "senior",
)
TARGET_COLUMN = "churned"
TIME_COLUMN = "event_time"
ID_COLUMN = "customer_id"

# A fixed default start keeps the default output reproducible (``now()`` would not).
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)

_PERIOD_CODES: dict[str, int] = {"reference": 0, "shifted": 1, "concept": 2, "launch": 3}
_ID_PREFIX: dict[str, str] = {"reference": "REF", "shifted": "SHF", "concept": "CON", "launch": "LCH"}


def make_churn(
    n_rows: int,
    *,
    seed: int = 0,
    period: Period = "reference",
    start: datetime | None = None,
    hours: int = 24,
    features: Period | None = None,
) -> pd.DataFrame:
    """Generate ``n_rows`` customers; see the module docstring for the periods.

    ``features`` names the period whose feature distribution is drawn (default:
    ``period``'s own; ``reference`` for ``concept``), so a concept change can
    follow a data shift: ``make_churn(n, period="concept", features="launch")``.
    ``start`` defaults to 2024-01-01 UTC; a naive ``start`` is taken as UTC.
    ``event_time`` is sorted ascending, as a stream of scoring events would be.
    """
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    if period not in _PERIOD_CODES:
        raise ValueError(f"period must be one of {sorted(_PERIOD_CODES)}, got {period!r}")
    drawn = features or ("reference" if period == "concept" else period)
    if drawn not in _PERIOD_CODES or drawn == "concept":
        valid = sorted(set(_PERIOD_CODES) - {"concept"})
        raise ValueError(f"features must be one of {valid}, got {features!r}")
    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")

    # One independent stream per (seed, period): ``concept`` must not reuse the
    # reference rows themselves, only their distribution.
    rng = np.random.default_rng([seed, _PERIOD_CODES[period]])
    shifted = drawn in ("shifted", "launch")

    tenure = np.clip(np.round(rng.exponential(14.0 if shifted else 26.0, n_rows)), 0, 72).astype(np.int64)
    contract = rng.choice(
        np.array(CONTRACTS, dtype=object),
        size=n_rows,
        p=[0.70, 0.18, 0.12] if shifted else [0.50, 0.25, 0.25],
    )
    internet = rng.choice(
        np.array(INTERNET_SERVICES, dtype=object),
        size=n_rows,
        p=[0.22, 0.60, 0.18] if shifted else [0.35, 0.40, 0.25],
    )
    services = INTERNET_SERVICES
    if drawn == "launch":
        launched = rng.random(n_rows) < LAUNCH_SHARE
        internet = np.where(launched, LAUNCH_SERVICE, internet).astype(object)
        services = (*INTERNET_SERVICES, LAUNCH_SERVICE)
    payment = rng.choice(
        np.array(PAYMENT_METHODS, dtype=object),
        size=n_rows,
        p=[0.45, 0.15, 0.20, 0.20] if shifted else [0.33, 0.20, 0.23, 0.24],
    )
    base_charge = np.select(
        [internet == LAUNCH_SERVICE, internet == "fiber", internet == "DSL"],
        [110.0, 80.0, 55.0],
        default=22.0,
    )
    monthly = np.round(
        np.clip(base_charge + (8.0 if shifted else 0.0) + rng.normal(0, 9.0, n_rows), 18, 140), 2
    )
    # Like the well-known telco data: brand-new customers have no billed total yet,
    # and a few older ones are missing it for no particular reason.
    total = np.round(monthly * tenure * rng.normal(1.0, 0.03, n_rows), 2)
    missing_total = (tenure == 0) | (rng.random(n_rows) < 0.01)
    total = np.where(missing_total, np.nan, total)
    support_calls = rng.poisson(2.0 if shifted else 1.3, n_rows).astype(np.int64)
    senior = (rng.random(n_rows) < (0.16 if not shifted else 0.20)).astype(np.int64)

    frame = pd.DataFrame(
        {
            ID_COLUMN: [f"{_ID_PREFIX[period]}-{seed}-{i:07d}" for i in range(n_rows)],
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "support_calls": support_calls,
            "contract": pd.Categorical(contract, categories=list(CONTRACTS)),
            "payment_method": pd.Categorical(payment, categories=list(PAYMENT_METHODS)),
            "internet_service": pd.Categorical(internet, categories=list(services)),
            "senior": senior,
        }
    )
    logit = _concept_logit(frame) if period == "concept" else _reference_logit(frame)
    # Extra noise on the logit, beyond the Bernoulli draw, stands for everything
    # the features do not capture; it keeps the best achievable AUC in the low 0.8s.
    logit = logit + rng.normal(0.0, 0.3, n_rows)
    frame[TARGET_COLUMN] = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    frame[TIME_COLUMN] = _event_times(rng, n_rows, start, hours)
    return frame[[ID_COLUMN, *FEATURE_COLUMNS, TIME_COLUMN, TARGET_COLUMN]]


def _reference_logit(frame: pd.DataFrame) -> np.ndarray:
    """P(churn | features) shared by ``reference`` and ``shifted``.

    The intercept is tuned so the reference churn rate is about 25%. The
    ``fiber-gigabit`` term only matters from the ``launch`` period on.
    """
    return np.asarray(
        -2.0
        + 1.5 * (frame["contract"] == "month-to-month").to_numpy()
        - 0.9 * (frame["contract"] == "two-year").to_numpy()
        - 0.04 * frame["tenure_months"].to_numpy()
        + 0.018 * (frame["monthly_charges"].to_numpy() - 60.0)
        + 0.42 * frame["support_calls"].to_numpy()
        + 0.45 * (frame["internet_service"] == "fiber").to_numpy()
        + 0.5 * (frame["payment_method"] == "electronic check").to_numpy()
        + 0.35 * frame["senior"].to_numpy()
        - 2.5 * (frame["internet_service"] == LAUNCH_SERVICE).to_numpy(),
        dtype=np.float64,
    )


def _concept_logit(frame: pd.DataFrame) -> np.ndarray:
    """A different world: a competitor poaches long-tenure, low-charge customers.

    Tenure and charges flip sign and contracts stop mattering, so a model that
    learned the reference relation ranks customers badly, while every feature
    distribution is unchanged. The intercept keeps the churn rate near 25%.
    After a ``launch`` the competitor also targets the ``fiber-gigabit`` plan,
    whose customers the reference relation says rarely churn.
    """
    return np.asarray(
        -2.45
        + 0.03 * frame["tenure_months"].to_numpy()
        - 0.025 * (frame["monthly_charges"].to_numpy() - 60.0)
        + 0.1 * frame["support_calls"].to_numpy()
        - 0.5 * (frame["internet_service"] == "fiber").to_numpy()
        + 0.9 * (frame["payment_method"] == "credit card").to_numpy()
        + 0.35 * frame["senior"].to_numpy()
        + 2.0 * (frame["internet_service"] == LAUNCH_SERVICE).to_numpy(),
        dtype=np.float64,
    )


def _event_times(rng: np.random.Generator, n_rows: int, start: datetime | None, hours: int) -> pd.Series:
    """Whole seconds: pandas drops a zero fraction when writing CSV, so sub-second
    stamps would give a file with two timestamp formats that strict parsers reject."""
    origin = pd.Timestamp(start or DEFAULT_START)
    origin = origin.tz_localize("UTC") if origin.tzinfo is None else origin.tz_convert("UTC")
    offsets_s = np.floor(np.sort(rng.uniform(0.0, hours * 3600.0, n_rows)))
    return pd.Series(origin + pd.to_timedelta(offsets_s, unit="s")).astype("datetime64[ns, UTC]")


def write_churn_csvs(
    directory: str | os.PathLike[str],
    *,
    n_train: int = 5000,
    n_live: int = 2000,
    seed: int = 0,
) -> dict[str, Path]:
    """Write the two files a demo needs: what to train on, and drifted live traffic.

    The shifted window starts where the reference window ends (24 h later), as
    live traffic follows training data. Each file is written under a temporary
    name and renamed, so a watcher never picks up half a CSV.
    Returns ``{"reference": path, "shifted": path}``.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    hours = 24
    frames = {
        "reference": make_churn(n_train, seed=seed, period="reference", hours=hours),
        "shifted": make_churn(
            n_live,
            seed=seed,
            period="shifted",
            start=DEFAULT_START + pd.Timedelta(hours=hours).to_pytimedelta(),
            hours=hours,
        ),
    }
    paths: dict[str, Path] = {}
    for name, frame in frames.items():
        target = out / f"churn_{name}.csv"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out)
        try:
            with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
                frame.to_csv(handle, index=False)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        paths[name] = target
    return paths
