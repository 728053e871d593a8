"""A registered model version's model card: its content, Markdown and HTML, logged to the version's run.

A model card says, for a person deciding whether to trust a model, what it is
for, who owns it, what it was trained on, how it was chosen, how well it does
(overall and per protected group), what it leans on and where it is weak. This
module holds the card's content (:class:`ModelCard`, plain data), renders it
(Markdown by hand, HTML from that Markdown with ``markdown-it-py``, a maintained
CommonMark implementation, raw HTML disabled so values from data cannot inject
markup) and keeps it as artifacts of the version's MLflow run, where the
registry UI already shows a version's files. Gathering the content from the
snapshot, the sweep and the holdout is above this layer
(:mod:`airflow_mlops.training.model_card`); a deployment's card, with its
replacement history, is :mod:`airflow_mlops.deployments.model_card`.

Layout under the run's artifacts: ``model_card/model_card.{md,html,json}`` for
the version, ``model_card/deployment-<id>/model_card.{md,html,json}`` for each
deployment serving it. The JSON is the content, so a reader can tell whether a
logged card is stale (another history, other protected features) without
parsing Markdown.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from airflow_mlops.registry.mlflow_context import mlflow_stores

#: Artifact directory of a version's cards on its run.
CARD_DIR = "model_card"
CARD_STEM = "model_card"
#: Card formats a reader may ask for.
CARD_FORMATS = ("markdown", "html", "json")
_SUFFIX = {"markdown": "md", "html": "html", "json": "json"}
#: Leaderboard rows shown (the chosen model is added when it ranks lower).
LEADERBOARD_ROWS = 5
#: Features listed in the importance table (all of them are in the JSON).
IMPORTANCE_ROWS = 20
#: Largest card served back (a card is a few KiB; anything bigger is not ours).
MAX_CARD_BYTES = 5 * 1024 * 1024


@dataclass
class GroupMetrics:
    """Holdout metrics of the rows where a protected feature has one value."""

    feature: str
    group: str
    rows: int
    metrics: dict[str, float | None]


@dataclass
class ModelCard:
    """Everything a card shows; ``None`` or empty where the registry and stores do not know it.

    ``deployment`` is set on a deployment's card: ``{"id", "label", "history"}``
    with ``history`` as :meth:`Deployment.get_model_history` gives it.
    """

    model_id: str
    name: str
    version: str
    run_id: str | None
    task: str
    target: str
    family: str
    features: list[str]
    classes: list[Any] | None = None
    registered_at: str | None = None
    owner: str | None = None
    intended_use: str | None = None
    training_data: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    run_metrics: dict[str, float] = field(default_factory=dict)
    holdout_rows: int | None = None
    holdout_metrics: dict[str, float | None] | None = None
    protected_features: list[str] = field(default_factory=list)
    group_metrics: list[GroupMetrics] = field(default_factory=list)
    feature_importance: dict[str, float] | None = None
    limits: list[str] = field(default_factory=list)
    deployment: dict[str, Any] | None = None
    generated_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        values = dict(data)
        values["group_metrics"] = [GroupMetrics(**g) for g in values.get("group_metrics", [])]
        return cls(**values)

    @property
    def artifact_dir(self) -> str:
        """Where this card lives among the run's artifacts."""
        if self.deployment is None:
            return CARD_DIR
        return f"{CARD_DIR}/deployment-{self.deployment['id']}"


# ---- Markdown ------------------------------------------------------------------------------------------

_SPECIAL = set("\\`*_[]<>|#!")


def _text(value: Any) -> str:
    """A value as inline Markdown text: punctuation that would become markup is escaped, one line."""
    text = " ".join(str(value).split())
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.4g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric_from: int = 1) -> list[str]:
    align = ["---" if i < numeric_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(_text(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    for row in rows:
        cells = [_text(c) if i < numeric_from else _number(c) for i, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _or_unknown(value: Any, unknown: str = "not recorded") -> str:
    return _text(value) if value not in (None, "") else f"*{unknown}*"


def _overview(card: ModelCard) -> list[str]:
    lines = [f"# Model card: {_text(card.model_id)}", ""]
    if card.deployment is not None:
        lines += [
            f"Deployment **{_text(card.deployment.get('label') or card.deployment['id'])}** "
            f"(`{card.deployment['id']}`) serves this version.",
            "",
        ]
    lines += [
        "## Overview",
        "",
        f"- **Task:** {_text(card.task)} on target `{card.target}`"
        + (f" (classes: {', '.join(_text(c) for c in card.classes)})" if card.classes else ""),
        f"- **Model family:** {_text(card.family)}",
        f"- **Registered model version:** {_text(card.name)} version {_text(card.version)}"
        + (f", registered {card.registered_at}" if card.registered_at else ""),
        f"- **Training run:** {_or_unknown(card.run_id)}",
        f"- **Owner:** {_or_unknown(card.owner)}",
        f"- **Intended use:** {_or_unknown(card.intended_use, 'not stated (set the version tag intended_use)')}",
        f"- **Features ({len(card.features)}):** {', '.join(_text(f) for f in card.features)}",
        "",
    ]
    return lines


def _training_data(card: ModelCard) -> list[str]:
    lines = ["## Training data", ""]
    data = card.training_data
    if not data:
        return [*lines, "*No dataset snapshot is recorded for this version.*", ""]
    lines += [
        f"- **Dataset snapshot:** {_text(data['dataset'])} version `{data['version']}`",
        f"- **Rows:** {_number(data.get('n_rows'))} ({_number(data.get('n_train'))} training, "
        f"{_number(data.get('n_holdout'))} holdout, {_number(data.get('n_quarantined', 0))} quarantined)",
        f"- **Source:** {_or_unknown(data.get('source'))}; ingested {_or_unknown(data.get('created_at'))}",
        f"- **Split:** {_or_unknown(data.get('split_method'))}",
    ]
    contract = data.get("contract")
    if contract:
        checks = ", ".join(f"{_text(k)}: {_text(v)}" for k, v in (contract.get("checks") or {}).items())
        lines.append(
            f"- **Contract:** {_text(contract.get('origin'))} (digest `{contract.get('digest')}`), "
            f"policy {_text(contract.get('policy'))}" + (f"; checks {checks}" if checks else "")
        )
    if data.get("issues"):
        lines.append(f"- **Ingestion issues:** {len(data['issues'])} recorded in the snapshot's meta.json")
    lines.append("")
    columns = data.get("columns") or []
    if columns:
        lines += ["### Profile", ""]
        lines += _table(
            ["column", "type", "missing rate", "distinct", "mean", "min", "max"],
            [
                [
                    c["name"],
                    c["type"],
                    c["missing_rate"],
                    c["distinct"],
                    c.get("mean"),
                    c.get("min"),
                    c.get("max"),
                ]
                for c in columns
            ],
            numeric_from=2,
        )
    distribution = data.get("class_distribution")
    if distribution:
        lines += ["### Target classes", ""]
        lines += _table(["class", "rows"], [[k, v] for k, v in distribution.items()])
    return lines


def _sweep(card: ModelCard) -> list[str]:
    lines = ["## How the model was chosen", ""]
    sweep = card.sweep
    if not sweep:
        return [*lines, "*No sweep is recorded for this version (it was registered directly).*", ""]
    lines += [
        f"- **Sweep (MLflow parent run):** `{sweep['parent_run_id']}`",
        f"- **Metric:** {_or_unknown(sweep.get('metric'))}; {_number(sweep.get('candidates'))} candidates ranked",
    ]
    chosen = sweep.get("chosen")
    if chosen:
        params = ", ".join(f"{_text(k)}={_text(v)}" for k, v in sorted((chosen.get("params") or {}).items()))
        lines.append(
            f"- **Chosen:** rank {_number(chosen.get('rank'))}, {_text(chosen.get('family'))}"
            + (f" with {params}" if params else " with its family's defaults")
        )
    lines.append("")
    rows = sweep.get("leaderboard") or []
    if rows:
        lines += ["### Leaderboard (top rows)", ""]
        lines += _table(
            ["rank", "family", "chosen", "CV score", "holdout score", "fit time (s)"],
            [
                [
                    r.get("rank"),
                    r.get("family"),
                    "yes" if chosen and r.get("run_id") == chosen.get("run_id") else "",
                    r.get("score"),
                    r.get("holdout_score"),
                    r.get("fit_time_s"),
                ]
                for r in rows
            ],
            numeric_from=3,
        )
    return lines


def _metrics(card: ModelCard) -> list[str]:
    lines = ["## Performance", ""]
    if card.run_metrics:
        lines += ["### Metrics logged with the training run", ""]
        lines += _table(["metric", "value"], sorted(card.run_metrics.items()))
    if card.holdout_metrics:
        lines += [f"### Holdout metrics ({_number(card.holdout_rows)} rows)", ""]
        lines += _table(["metric", "value"], list(card.holdout_metrics.items()))
    elif not card.run_metrics:
        lines += ["*No metrics are recorded: the version has no run metrics and no holdout to score.*", ""]
    if card.protected_features:
        lines += [f"### Holdout metrics per protected group ({', '.join(card.protected_features)})", ""]
        if card.group_metrics:
            names = list(card.group_metrics[0].metrics)
            lines += _table(
                ["feature", "group", "rows", *names],
                [
                    [g.feature, g.group, g.rows, *(g.metrics.get(n) for n in names)]
                    for g in card.group_metrics
                ],
                numeric_from=2,
            )
        else:
            lines += ["*No holdout rows to score per group.*", ""]
    return lines


def _importance(card: ModelCard) -> list[str]:
    lines = ["## Feature importance", ""]
    if not card.feature_importance:
        return [*lines, "*Not computed for this version.*", ""]
    shown = list(card.feature_importance.items())[:IMPORTANCE_ROWS]
    lines += [
        "Permutation importance: the drop in the sweep's metric when the feature's values are shuffled "
        "(larger: the model leans on it more).",
        "",
    ]
    return lines + _table(["feature", "importance"], shown)


def _limits(card: ModelCard) -> list[str]:
    lines = ["## Known limits", ""]
    if not card.limits:
        return [*lines, "*None found in the training data's profile.*", ""]
    return [*lines, *(f"- {_text(limit)}" for limit in card.limits), ""]


def _history(card: ModelCard) -> list[str]:
    if card.deployment is None:
        return []
    lines = ["## Replacement history", ""]
    history = card.deployment.get("history") or []
    if not history:
        return [*lines, "*No model history is recorded for this deployment.*", ""]
    return lines + _table(
        ["when", "from version", "to version", "reason", "by"],
        [
            [
                h["timestamp"],
                h.get("old_model_version") or "-",
                h.get("new_model_version"),
                h["reason"],
                h["actor"],
            ]
            for h in history
        ],
        numeric_from=5,
    )


def render_markdown(card: ModelCard) -> str:
    """The card as CommonMark with GitHub-style tables (what MLflow's artifact viewer and GitHub show)."""
    sections = [_overview, _training_data, _sweep, _metrics, _importance, _limits, _history]
    lines = [line for section in sections for line in section(card)]
    lines.append(f"*Generated {card.generated_at} by airflow-mlops from the MLflow registry and the stores.*")
    return "\n".join(lines) + "\n"


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1b1f24; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; }}
th, td {{ border: 1px solid #d0d7de; padding: 0.25rem 0.6rem; }}
th {{ background: #f6f8fa; }}
code {{ background: #f6f8fa; padding: 0 0.2rem; }}
</style>
</head>
<body>
{body}</body>
</html>
"""


def render_html(markdown: str, *, title: str) -> str:
    """A standalone HTML page of the card's Markdown (tables on, raw HTML off: data cannot add markup)."""
    from html import escape

    body = MarkdownIt("js-default").render(markdown)
    return _PAGE.format(title=escape(title), body=body)


# ---- MLflow artifacts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedCard:
    """A card as logged: its run and artifact paths per format."""

    run_id: str
    paths: dict[str, str]


def log_model_card(card: ModelCard, *, tracking_uri: str, registry_uri: str | None = None) -> LoggedCard:
    """Render ``card`` and log Markdown, HTML and JSON as artifacts of the version's run.

    Logging again replaces the files (same paths), so a regenerated card is the one read.
    """
    if card.run_id is None:
        raise ValueError(f"model {card.model_id!r} has no MLflow run to log its model card to")
    markdown = render_markdown(card)
    texts = {
        "markdown": markdown,
        "html": render_html(markdown, title=f"Model card: {card.model_id}"),
        "json": json.dumps(card.to_dict(), indent=2, default=str),
    }
    paths: dict[str, str] = {}
    with mlflow_stores(tracking_uri, registry_uri) as client, tempfile.TemporaryDirectory() as tmp:
        for kind, text in texts.items():
            local = Path(tmp) / f"{CARD_STEM}.{_SUFFIX[kind]}"
            local.write_text(text, encoding="utf-8")
            client.log_artifact(card.run_id, str(local), artifact_path=card.artifact_dir)
            paths[kind] = f"{card.artifact_dir}/{local.name}"
    return LoggedCard(run_id=card.run_id, paths=paths)


def card_artifact_path(fmt: str, deployment_id: str | None = None) -> str:
    """The artifact path of a card in ``fmt`` (``markdown``, ``html``, ``json``) on its version's run."""
    if fmt not in CARD_FORMATS:
        raise ValueError(f"format={fmt!r} is not a model card format; expected one of {list(CARD_FORMATS)}")
    folder = CARD_DIR if deployment_id is None else f"{CARD_DIR}/deployment-{deployment_id}"
    return f"{folder}/{CARD_STEM}.{_SUFFIX[fmt]}"


def read_model_card(
    run_id: str,
    fmt: str = "markdown",
    *,
    deployment_id: str | None = None,
    tracking_uri: str,
    registry_uri: str | None = None,
) -> str | None:
    """A logged card's text, or ``None`` when the run has none logged (yet) in that format."""
    path = card_artifact_path(fmt, deployment_id)
    folder, _, name = path.rpartition("/")
    with mlflow_stores(tracking_uri, registry_uri) as client:
        if name not in {Path(f.path).name for f in client.list_artifacts(run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(client.download_artifacts(run_id, path, tmp))
            size = local.stat().st_size
            if size > MAX_CARD_BYTES:
                raise ValueError(
                    f"model card {path!r} of run {run_id} is {size} bytes, over {MAX_CARD_BYTES}"
                )
            return local.read_text(encoding="utf-8")
