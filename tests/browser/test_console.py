"""The MLOps console in a real browser: Debian's headless Chromium against a real Airflow with the plugin.

One Airflow (``airflow-mlops up``) for the module, on a fresh ``MLOPS_HOME`` where
``airflow-mlops demo`` has told its story (see :mod:`helpers.browser`). Each test
logs in through Airflow's own login page and compares what the page shows with
what the MLOps API answers, fetched with the same browser session (its ``_token``
cookie). Where the page chose a window or a feature, the test replays the exact
request the page made, so both sides look at the same numbers.

Selectors are the contract in UI-CONTRACT.md (``data-testid`` and friends).
The browser keeps the real clock: the story's traffic is dated January 2026, and the
console ends its default windows at the deployment's last prediction
(``predictionUsage.lastTimestamp``), saying so, which is what these tests check first. Screenshots of every page go to ``$MLOPS_TEST_OUTPUT/screenshots`` (default
``tests/output/screenshots``). Skipped, saying why, only where ``chromium`` is absent.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from helpers.browser import (
    DemoAirflow,
    api_json,
    chromium_path,
    demo_airflow,
    is_login_page,
    launch_chromium,
    log_in,
    screenshot,
    share,
)

pytestmark = pytest.mark.integration

if chromium_path() is None:
    pytest.skip(
        "chromium is not installed (apt-get install -y chromium chromium-driver; `make test` does it as root)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect, sync_playwright  # noqa: E402

CONSOLE = "/plugin/mlops"  # the host's route for the react app with url_route "mlops"
TABS = (
    "Overview",
    "Service health",
    "Data drift",
    "Accuracy",
    "Fairness",
    "Humility",
    "Retraining",
    "Actions",
)
#: health badge kind -> the deployment JSON's field
HEALTH = {"service": "serviceHealth", "drift": "modelHealth", "accuracy": "accuracyHealth"}
TIMEOUT_MS = 60_000
#: The deployment JSON's model lineage fields the Overview shows (``lineage-field``).
LINEAGE = (
    "datasetName",
    "datasetVersion",
    "trainingRunId",
    "sweepParentRunId",
    "mlflowModelUrl",
    "mlflowRunUrl",
)
expect.set_options(timeout=TIMEOUT_MS)  # a loaded CI machine renders slower than Playwright's 5 s default


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoAirflow]:
    with demo_airflow(tmp_path_factory.mktemp("browser") / "home") as running:
        share(running, {"consumer": "CONSUMER", "reader": "USER"})
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = launch_chromium(playwright)
        yield launched
        launched.close()


class Session:
    """One user's browser context and page, plus every MLOps API call the page made."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.calls: list[str] = []
        self.page.on("request", self._seen)

    def _seen(self, request: Request) -> None:
        if "/mlops/api/v2/" in request.url and request.method == "GET":
            self.calls.append(request.url)

    def last_call(self, fragment: str) -> str:
        """The latest API URL the page fetched containing ``fragment``, waiting for it to happen."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            found = [url for url in self.calls if fragment in url]
            if found:
                return found[-1]
            assert time.monotonic() < deadline, f"the page never fetched {fragment}; it fetched {self.calls}"
            self.page.wait_for_timeout(200)

    def replay(self, url: str) -> Any:
        """The same request, made again by the same session outside the page."""
        answer = self.context.request.get(url)
        assert answer.ok, f"GET {url} -> {answer.status}: {answer.text()[:500]}"
        return answer.json()


@pytest.fixture
def session_as(server: DemoAirflow, browser: Browser) -> Iterator[Any]:
    contexts: list[BrowserContext] = []

    def open_session(user: str) -> Session:
        context = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 1000})
        contexts.append(context)
        opened = Session(context)
        log_in(opened.page, server.url, user, server.passwords[user])
        return opened

    yield open_session
    for context in contexts:
        context.close()


def open_console(session: Session) -> Locator:
    session.page.goto(CONSOLE)
    inventory = session.page.locator('[data-testid="mlops-inventory"]')
    expect(inventory).to_be_visible()
    return inventory


def open_deployment(session: Session, deployment_id: str) -> Locator:
    """From the inventory, follow the deployment's label link to its page."""
    open_console(session)
    row = session.page.locator(f'[data-testid="deployment-row"][data-deployment-id="{deployment_id}"]')
    row.get_by_role("link").first.click()
    root = session.page.locator(f'[data-testid="mlops-deployment"][data-deployment-id="{deployment_id}"]')
    expect(root).to_be_visible()
    return root


def tab(page: Page, name: str) -> Locator:
    return page.get_by_role("tab", name=name, exact=True).or_(
        page.get_by_role("button", name=name, exact=True)
    )


def open_tab(page: Page, name: str) -> None:
    tab(page, name).first.click()


def numbers_in(text: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+", text)


def shows_number(text: str, value: float) -> bool:
    """``value`` appears in ``text`` at whatever precision the page rounds to (two decimals at least)."""
    for shown in numbers_in(text):
        decimals = len(shown.split(".")[1])
        if decimals >= 2 and abs(float(shown) - value) <= 0.5 * 10**-decimals + 1e-12:
            return True
    return False


def query_of(url: str) -> dict[str, str]:
    return dict(httpx.URL(url).params)


def raw(value: Any) -> str:
    """What the page puts in a ``data-value``: JavaScript's ``String(value)``, "" for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def anchored_end(last_timestamp: str) -> datetime:
    """The top of the hour after the last prediction: where the console's default windows end."""
    last = datetime.fromisoformat(last_timestamp.replace("Z", "+00:00"))
    last = last.replace(tzinfo=UTC) if last.tzinfo is None else last.astimezone(UTC)
    return last.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def confirm_if_asked(page: Page, waiting: Locator) -> None:
    """The page may ask "are you sure?" in a dialog before it approves: say yes if it does."""
    confirm = page.get_by_role("dialog").get_by_role("button", name=re.compile("approve|confirm|yes", re.I))
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if waiting.get_attribute("data-status") != "awaiting_approval":
            return
        if confirm.count() and confirm.first.is_visible():
            confirm.first.click()
            return
        page.wait_for_timeout(200)


# ---- the harness, against what Airflow serves today -------------------------------------------


def test_login_through_airflows_login_page_reaches_the_home_page(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    assert page.url.rstrip("/") == server.url or page.url.startswith(server.url + "/"), page.url
    assert not is_login_page(page.url)
    expect(page.get_by_role("link", name="Dags").first).to_be_visible()
    # The session is real: Airflow's own API answers the page's cookie.
    me = admin.context.request.get("/api/v2/version")
    assert me.ok, me.text()
    screenshot(page, "airflow-home")


@pytest.mark.parametrize("path", ["/", CONSOLE, "/mlops/docs"])
def test_without_a_login_a_visit_ends_on_airflows_login_page(
    path: str, server: DemoAirflow, browser: Browser
) -> None:
    context = browser.new_context(base_url=server.url)
    try:
        page = context.new_page()
        page.goto(path)
        page.wait_for_url(lambda url: is_login_page(url), timeout=TIMEOUT_MS)
        expect(page.get_by_label("Username")).to_be_visible()
        expect(page.get_by_label("Password")).to_be_visible()
    finally:
        context.close()


# ---- the console --------------------------------------------------------------------------


def test_the_nav_opens_the_console_showing_the_demo_deployments_health_as_the_api_does(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    expect(page.get_by_role("link", name="Dags").first).to_be_visible()  # the nav has rendered
    entry = page.get_by_role("link", name="MLOps").or_(page.get_by_role("menuitem", name="MLOps"))
    plugins = page.get_by_role("button", name="Plugins")  # several nav apps share this menu
    # The host adds plugin entries once it has fetched the plugin list: wait for one of the two.
    expect(entry.or_(plugins).first).to_be_visible()
    if not entry.first.is_visible():
        plugins.first.click()
    entry.first.click()
    inventory = page.locator('[data-testid="mlops-inventory"]')
    expect(inventory).to_be_visible()
    assert page.url.startswith(server.url + CONSOLE), page.url
    row = inventory.locator(f'[data-testid="deployment-row"][data-deployment-id="{server.deployment_id}"]')
    expect(row).to_be_visible()
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    shown = {
        kind: row.locator(f'[data-testid="health-badge"][data-kind="{kind}"]').get_attribute("data-status")
        for kind in HEALTH
    }
    expected = {kind: str(deployment[field]["status"]).lower() for kind, field in HEALTH.items()}
    assert shown == expected
    screenshot(page, "inventory")


def test_service_tiles_equal_service_stats(session_as: Any, server: DemoAirflow) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    open_tab(page, "Service health")
    tiles = page.locator('[data-testid="service-tile"]')
    expect(tiles.first).to_be_visible()
    stats = admin.replay(admin.last_call("/serviceStats/"))["metrics"]
    shown = {t.get_attribute("data-metric"): t.get_attribute("data-value") for t in tiles.all()}
    assert set(shown) == set(stats), (sorted(shown), sorted(stats))
    for name, value in stats.items():
        text = shown[name] or ""
        if value is None:
            assert text == "", (name, text)
        else:
            assert text != "" and math.isclose(float(text), float(value), rel_tol=1e-9, abs_tol=1e-12), (
                name,
                text,
                value,
            )
    screenshot(page, "service-health")


def test_the_drift_scatter_has_one_point_per_feature_and_drift_over_time_one_per_bucket(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    open_tab(page, "Data drift")
    scatter = page.locator('[data-testid="drift-scatter"]')
    expect(scatter).to_be_visible()
    features = admin.replay(admin.last_call("/featureDrift/"))["data"]
    scored = [f for f in features if f["driftScore"] is not None]
    assert scored, (
        f"the page's featureDrift window has no scored feature: {admin.last_call('/featureDrift/')}"
    )
    expect(scatter).to_have_attribute("data-point-count", str(len(scored)))
    # The demo keeps the default distribution rule: no score threshold judges drift, so the caption
    # says which rule health uses instead of explaining threshold colours.
    health = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/healthSettings/")
    assert health["dataDrift"]["rule"] == "distribution", health["dataDrift"]
    caption = page.locator('[data-testid="drift-rule-caption"]')
    expect(caption).to_have_attribute("data-rule", "distribution")
    expect(caption).to_contain_text("Drift health uses the distribution rule")

    over_time = page.locator('[data-testid="feature-drift-over-time"]')
    expect(over_time).to_be_visible()
    buckets = admin.replay(admin.last_call("/featureDriftOverTime/"))["buckets"]
    assert buckets, admin.last_call("/featureDriftOverTime/")
    expect(over_time).to_have_attribute("data-point-count", str(len(buckets)))
    screenshot(page, "data-drift")


def test_default_windows_end_at_the_last_prediction_and_say_so(session_as: Any, server: DemoAirflow) -> None:
    # The browser's clock is today's; the story's predictions are dated January 2026. Without the
    # anchor every default window would be empty.
    admin = session_as("admin")
    page = admin.page
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    usage = deployment.get("predictionUsage")
    assert usage and usage.get("lastTimestamp"), (
        f"the deployment JSON has no predictionUsage.lastTimestamp: {usage}"
    )
    end = anchored_end(usage["lastTimestamp"])
    assert end < datetime.now(UTC), (end, "the story's traffic is in the past")

    # The inventory's activity column counts the 7 days up to the last prediction.
    inventory = open_console(admin)
    row = inventory.locator(f'[data-testid="deployment-row"][data-deployment-id="{server.deployment_id}"]')
    expect(row.locator('[data-testid="activity-anchor"]')).to_be_visible()
    activity = query_of(admin.last_call(f"/deployments/{server.deployment_id}/serviceStatsOverTime/"))
    assert datetime.fromisoformat(activity["end"].replace("Z", "+00:00")) == end, activity
    shown = row.locator('[data-testid="predictions-7d"]')
    expect(shown).not_to_have_attribute("data-value", "0")
    assert int(shown.get_attribute("data-value") or "0") > 0

    # A deployment page's tabs: the same end, said in words, and a window with the story's traffic.
    row.get_by_role("link").first.click()
    open_tab(page, "Service health")
    note = page.locator('[data-testid="window-anchor"]')
    expect(note).to_have_attribute("data-anchored", "true")
    expect(note).to_contain_text("up to the last prediction")
    assert note.get_attribute("data-last-prediction") == usage["lastTimestamp"]
    expect(page.locator('[data-testid="service-tile"]').first).to_be_visible()
    call = admin.last_call("/serviceStats/")
    period = query_of(call)
    assert datetime.fromisoformat(period["end"].replace("Z", "+00:00")) == end, period
    assert datetime.fromisoformat(period["start"].replace("Z", "+00:00")) == end - timedelta(days=7), period
    assert (admin.replay(call)["metrics"]["totalPredictions"] or 0) > 0, call
    total = page.locator('[data-testid="service-tile"][data-metric="totalPredictions"]')
    expect(total).not_to_have_attribute("data-value", "0")

    # "Show up to now" ends the windows now instead: the story is then out of a 7-day window.
    page.get_by_role("button", name="Show up to now").click()
    expect(note).to_have_attribute("data-anchored", "false")
    expect(page.locator('[data-testid="service-tile"][data-metric="totalPredictions"]')).to_have_attribute(
        "data-value", "0"
    )
    screenshot(page, "service-health-up-to-now")


def test_overview_shows_the_models_lineage_and_the_latest_report_as_the_api_gives_them(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    model = deployment["model"]
    missing = [f for f in LINEAGE if f not in model]
    assert not missing, f"the deployment JSON's model lacks {missing}: {model}"
    assert model["datasetName"] and model["trainingRunId"], model  # the demo trains from a registered dataset
    lineage = page.locator('[data-testid="lineage"]')
    expect(lineage).to_have_attribute("data-available", "true")
    for name in LINEAGE:
        field = lineage.locator(f'[data-testid="lineage-field"][data-field="{name}"]')
        expect(field).to_have_attribute("data-value", raw(model[name]))
        if isinstance(model[name], str) and model[name].startswith(("http://", "https://")):
            expect(field.get_by_role("link")).to_have_attribute("href", model[name])

    report = lineage.locator('[data-testid="latest-report"]')
    latest = deployment.get("latestReport")
    if latest is None:
        expect(report).to_have_attribute("data-available", "false")
        expect(report).to_contain_text("No Evidently report yet")
    else:
        expect(report).to_have_attribute("data-available", "true")
        expect(report).to_have_attribute("data-uri", latest["uri"])
        href = report.get_by_role("link").get_attribute("href") or ""
        assert href.endswith(f"/mlops/api/v2/deployments/{server.deployment_id}/reports/latest/"), href
        served = admin.context.request.get(href)
        assert served.ok and "html" in served.headers.get("content-type", ""), (served.status, served.headers)
    screenshot(page, "overview-lineage")


def test_predicted_vs_actual_has_one_point_per_bucket_the_api_returns(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    open_tab(page, "Accuracy")
    chart = page.locator('[data-testid="predicted-vs-actual"]')
    expect(chart).to_be_visible()
    answer = admin.replay(admin.last_call("/predictionsVsActualsOverTime/"))
    buckets = answer["buckets"]
    assert buckets, admin.last_call("/predictionsVsActualsOverTime/")
    expect(chart).to_have_attribute("data-point-count", str(len(buckets)))
    # The story sent actuals for three of its four days: some bucket compares them.
    assert any(b["rowCountWithActual"] > 0 for b in buckets), buckets
    expect(page.locator('[data-testid="predicted-vs-actual-no-actuals"]')).to_have_count(0)
    screenshot(page, "accuracy")


def test_humility_charts_one_point_per_bucket_and_says_why_when_warnings_are_off(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    settings = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/settings/")
    open_tab(page, "Humility")
    chart = page.locator('[data-testid="humility-over-time"]')
    expect(chart).to_be_visible()
    answer = admin.replay(admin.last_call("/humilityStatsOverTime/"))
    buckets = answer["buckets"]
    assert buckets, admin.last_call("/humilityStatsOverTime/")
    expect(chart).to_have_attribute("data-point-count", str(len(buckets)))
    summary = page.locator('[data-testid="humility-summary"]')
    expect(summary).to_have_attribute("data-rows", str(sum(b["rowCount"] for b in buckets)))
    expect(summary).to_have_attribute("data-flagged", str(sum(b["outlierPredictions"] for b in buckets)))
    disabled = page.locator('[data-testid="humility-disabled"]')
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    regression = deployment["model"]["targetType"] == "Regression"
    on = answer.get("predictionWarningEnabled")
    assert on == (regression and bool((settings.get("predictionWarning") or {}).get("enabled"))), (
        on,
        settings,
    )
    if on:
        expect(disabled).to_have_count(0)
    else:
        # The demo's churn model is a classifier: no row is checked, and the page says why.
        assert all(b["rowCount"] == 0 and b["outlierPredictions"] == 0 for b in buckets), buckets
        expect(disabled).to_have_attribute("data-reason", "off" if regression else "not-regression")
        expect(disabled).to_contain_text("no prediction is checked")
    screenshot(page, "humility")


def test_the_model_history_shows_the_drift_and_accuracy_replacements_with_their_scores(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    history = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/modelHistory/")["data"]
    for reason in ("DATA_DRIFT", "ACCURACY"):
        (entry,) = [h for h in history if h["reason"] == reason]
        scores = entry["details"]["scores"]
        item = page.locator(f'[data-testid="history-item"][data-reason="{reason}"]')
        expect(item).to_have_count(1)
        text = item.inner_text()
        for side in ("champion", "challenger"):
            assert shows_number(text, float(scores[side])), (reason, side, scores[side], text)
    screenshot(page, "overview")


def test_every_tab_renders_and_is_saved_as_a_screenshot(session_as: Any, server: DemoAirflow) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    for name in TABS:
        open_tab(page, name)
        page.wait_for_load_state("networkidle")
        path = screenshot(page, "tab-" + name.lower().replace(" ", "-"))
        assert path.stat().st_size > 0


def test_users_who_may_not_act_see_no_management_action(session_as: Any, server: DemoAirflow) -> None:
    # A USER reads the deployment but may not act: the page renders, its actions do not.
    reader = session_as("reader")
    deployment = api_json(reader.page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    assert "replace" not in deployment.get("permissions", []), deployment.get("permissions")
    open_deployment(reader, server.deployment_id)
    page = reader.page
    expect(tab(page, "Overview").first).to_be_visible()
    expect(tab(page, "Actions")).to_have_count(0)
    open_tab(page, "Retraining")
    waiting = page.locator(
        f'[data-testid="retraining-request"][data-request-id="{server.awaiting_request_id}"]'
    )
    expect(waiting).to_have_attribute("data-status", "awaiting_approval")
    expect(page.locator('[data-testid="approve-request"]')).to_have_count(0)
    expect(page.locator('[data-testid="reject-request"]')).to_have_count(0)
    screenshot(page, "reader-retraining")

    # A CONSUMER may only predict: the API refuses to show the deployment; the console offers nothing.
    consumer = session_as("consumer")
    hidden = consumer.context.request.get(f"/mlops/api/v2/deployments/{server.deployment_id}/")
    assert hidden.status == 403, hidden.text()
    open_console(consumer)
    page = consumer.page
    page.wait_for_load_state("networkidle")
    for selector in ('[data-testid="approve-request"]', '[data-testid="reject-request"]'):
        expect(page.locator(selector)).to_have_count(0)
    expect(tab(page, "Actions")).to_have_count(0)
    screenshot(page, "consumer-inventory")


def _patch_settings(session: Session, deployment_id: str, body: dict[str, Any]) -> Any:
    """PATCH ``settings/`` with the session's cookie, as the console does; the answer's JSON."""
    answer = session.context.request.patch(f"/mlops/api/v2/deployments/{deployment_id}/settings/", data=body)
    assert answer.ok, f"PATCH settings/ -> {answer.status}: {answer.text()[:500]}"
    return answer.json()


def _fairness_form_error(page: Page, field: str) -> Locator:
    return page.locator(
        f'[data-testid="fairness-settings-form"] [data-testid="field-error"][data-field="{field}"]'
    )


def test_the_fairness_form_sets_what_settings_and_the_audit_log_then_show(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    base = f"/mlops/api/v2/deployments/{server.deployment_id}"
    # Whatever the demo configured: start with fairness off, so the tab's "off" state shows first.
    _patch_settings(admin, server.deployment_id, {"biasAndFairness": {"protectedFeatures": []}})
    open_deployment(admin, server.deployment_id)
    deployment = api_json(page, f"{base}/")
    badge = page.locator('[data-testid="health-badge"][data-kind="fairness"]')
    expect(badge.first).to_have_attribute("data-status", str(deployment["fairnessHealth"]["status"]).lower())
    open_tab(page, "Fairness")
    off = page.locator('[data-testid="fairness-off"]')
    expect(off).to_have_attribute("data-owner", "true")
    expect(off).to_contain_text("No feature is protected")
    form = page.locator('[data-testid="fairness-settings-form"]')
    expect(form).to_be_visible()

    # The choices are the model's features as the drift tab lists them.
    features = [f["name"] for f in admin.replay(admin.last_call("/featureDrift/"))["data"]]
    choices = form.locator('[data-testid="fairness-feature-choice"]')
    expect(choices).to_have_count(len(features))
    assert sorted(c.get_attribute("data-feature") or "" for c in choices.all()) == sorted(features)
    protected = features[:2]
    for name in protected:
        form.locator(f'[data-testid="fairness-feature-choice"][data-feature="{name}"]').click()
    classes = [o.get_attribute("value") or "" for o in form.locator("#fairness-classes option").all()]
    assert len(classes) == 2, f"the window's predictions and actuals name {classes}, not two classes"

    # A class the model does not have: the server's 422 is shown by the field, nothing changes.
    form.locator('[data-testid="fairness-favourable"]').fill("no-such-class")
    form.locator('[data-testid="fairness-save"]').click()
    expect(_fairness_form_error(page, "preferableTargetValue")).to_contain_text("is not a class of the model")
    # A threshold out of 0..1: FastAPI's 422 names the field, and so does the form.
    form.locator('[data-testid="fairness-favourable"]').fill(classes[-1])
    form.locator('input[name="fairnessThreshold"]').fill("1.5")
    form.locator('[data-testid="fairness-save"]').click()
    expect(_fairness_form_error(page, "fairnessThreshold")).to_contain_text("less than or equal to 1")
    assert api_json(page, f"{base}/settings/")["biasAndFairness"] is None

    form.locator('input[name="fairnessThreshold"]').fill("0.7")
    form.locator('[data-testid="fairness-metric-set"]').select_option("equalParity")
    form.locator('[data-testid="fairness-save"]').click()
    expect(form.locator('[data-testid="fairness-saved"]')).to_be_visible()
    expect(form.locator('[data-testid="field-error"]')).to_have_count(0)
    section = api_json(page, f"{base}/settings/")["biasAndFairness"]
    assert section is not None
    assert sorted(section["protectedFeatures"]) == sorted(protected), section
    assert str(section["preferableTargetValue"]) == classes[-1], section
    assert (section["fairnessMetricsSet"], section["fairnessThreshold"]) == ("equalParity", 0.7), section
    log = api_json(page, f"{base}/auditLog/", limit=1000)["data"]
    entry = log[-1]  # oldest first: the form's PATCH settings/ is the newest change
    assert (entry["action"], entry["actor"]) == ("settings", "admin"), entry
    before, after = (entry[k]["settings"]["bias_and_fairness"] for k in ("before", "after"))
    assert before["protected_features"] == [], before
    assert sorted(after["protected_features"]) == sorted(protected), after
    assert after["fairness_threshold"] == 0.7, after

    # The tab now reads fairness/: as many group rows per feature and metric as the API scores,
    # and per feature one chart point per bucket of fairnessScoresOverTime/.
    expect(off).to_have_count(0)
    sections = page.locator('[data-testid="fairness-feature"]')
    expect(sections).to_have_count(len(protected))
    read = admin.replay(admin.last_call("/fairness/"))
    assert {f["protectedFeature"] for f in read["features"]} == set(protected), read
    for scores in read["features"]:
        where = f'[data-feature="{scores["protectedFeature"]}"][data-metric="{scores["metricName"]}"]'
        if scores["scores"]:
            rows = page.locator(f'[data-testid="fairness-table"]{where} [data-testid="fairness-group"]')
            expect(rows).to_have_count(len(scores["scores"]))
            for group in scores["scores"]:
                row = rows.and_(page.locator(f'[data-group="{group["label"]}"]'))
                expect(row).to_have_attribute("data-sample-size", str(group["sampleSize"]))
                expect(row).to_have_attribute("data-passed", raw(group["passed"]))
        else:
            expect(page.locator(f'[data-testid="fairness-no-groups"]{where}')).to_be_visible()
    for name in protected:
        charted = page.locator(f'[data-testid="fairness-over-time-groups"][data-feature="{name}"]')
        expect(charted).to_be_visible()
        calls = [
            u
            for u in admin.calls
            if "/fairnessScoresOverTime/" in u and query_of(u).get("protectedFeature") == name
        ]
        assert calls, admin.calls
        over = admin.replay(calls[-1])
        groups = {s["label"] for b in [over["summary"], *over["buckets"]] for s in b["scores"]}
        expect(charted).to_have_attribute("data-group-count", str(len(groups)))
        expect(charted).to_have_attribute("data-bucket-count", str(len(over["buckets"])))
        if groups:  # one point per bucket, one line per group
            expect(charted.locator('[data-testid="fairness-over-time"]')).to_have_attribute(
                "data-point-count", str(len(over["buckets"]))
            )
        else:  # predictions folded before the features were protected have no groups: said, not charted
            expect(charted.locator('[data-testid="fairness-over-time-empty"]')).to_be_visible()
    screenshot(page, "fairness")


def test_the_fairness_tab_offers_users_who_may_not_change_settings_no_form(
    session_as: Any, server: DemoAirflow
) -> None:
    reader = session_as("reader")
    page = reader.page
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    assert "settings" not in deployment.get("permissions", []), deployment.get("permissions")
    open_deployment(reader, server.deployment_id)
    open_tab(page, "Fairness")
    off = page.locator('[data-testid="fairness-off"]')
    # Fairness on or off (whatever the tests before left): the scores or the notice, never the form.
    expect(off.or_(page.locator('[data-testid="fairness-feature"]')).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(page.locator('[data-testid="fairness-settings-form"]')).to_have_count(0)
    screenshot(page, "reader-fairness")

    # Off: the notice says who may turn it on, and offers the reader no form.
    admin = session_as("admin")
    _patch_settings(admin, server.deployment_id, {"biasAndFairness": {"protectedFeatures": []}})
    page.reload()
    expect(off).to_have_attribute("data-owner", "false")
    expect(off).to_contain_text("A user who may change")
    expect(page.locator('[data-testid="fairness-settings-form"]')).to_have_count(0)
    screenshot(page, "reader-fairness-off")


def test_the_overview_links_the_model_card_which_opens_as_a_page(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    open_deployment(admin, server.deployment_id)
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    card = page.locator('[data-testid="model-card"]')
    expect(card).to_have_attribute("data-available", "true")
    expect(card).to_have_attribute("data-url", deployment["modelCard"]["url"])
    link = card.get_by_role("link", name="Model card")
    href = link.get_attribute("href") or ""
    assert href == f"{server.url}/mlops{deployment['modelCard']['url']}", href
    with page.context.expect_page() as opened:
        link.click()
    shown = opened.value
    shown.wait_for_load_state()
    assert shown.url == href, shown.url
    body = shown.locator("body")
    expect(body).to_contain_text(deployment["model"]["registeredModelName"])
    expect(body).to_contain_text("Training data")
    screenshot(shown, "model-card")
    shown.close()


def test_approving_a_waiting_request_from_the_page_replaces_the_model(
    session_as: Any, server: DemoAirflow
) -> None:
    admin = session_as("admin")
    page = admin.page
    before = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")["model"]["id"]
    assert before != server.challenger_model_id
    open_deployment(admin, server.deployment_id)
    expect(tab(page, "Actions").first).to_be_visible()  # an owner is offered what the others are not
    open_tab(page, "Retraining")
    waiting = page.locator(
        f'[data-testid="retraining-request"][data-request-id="{server.awaiting_request_id}"]'
    )
    expect(waiting).to_have_attribute("data-status", "awaiting_approval")
    waiting.locator('[data-testid="approve-request"]').click()
    confirm_if_asked(page, waiting)
    expect(waiting).to_have_attribute("data-status", "replaced")
    deployment = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/")
    assert deployment["model"]["id"] == server.challenger_model_id, deployment["model"]
    requests = api_json(page, f"/mlops/api/v2/deployments/{server.deployment_id}/retrainingRequests/")["data"]
    (approved,) = [r for r in requests if r["id"] == server.awaiting_request_id]
    assert approved["status"] == "replaced" and approved["actor"] == "admin", approved
    screenshot(page, "approved")


def _luminance(css_color: str) -> float:
    """Lightness (0 black … 1 white) of a computed colour: ``oklch(L …)`` gives L (Chakra's
    tokens compute to it), ``rgb(…)``/``rgba(…)`` their relative luminance."""
    numbers = [float(part) for part in re.findall(r"\d+(?:\.\d+)?", css_color)]
    if css_color.startswith("oklch("):
        return numbers[0] / 100 if "%" in css_color.split()[0] else numbers[0]
    red, green, blue = (value / 255 for value in numbers[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


#: The background actually painted behind an element: the first ancestor's that is not transparent.
_OPAQUE_BACKGROUND = """el => {
  for (let node = el; node; node = node.parentElement) {
    const colour = getComputedStyle(node).backgroundColor;
    if (colour && colour !== "transparent" && !/rgba\\([^)]*,\\s*0\\)$/.test(colour)) return colour;
  }
  return "rgb(255, 255, 255)";
}"""


def test_the_console_follows_airflows_dark_mode(server: DemoAirflow, browser: Browser) -> None:
    """Airflow's UI follows the system's colour scheme; the console, drawn with the host's Chakra
    system, turns with it: light text on a dark page, in the inventory and on a deployment tab."""
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1400, "height": 1000}, color_scheme="dark"
    )
    try:
        session = Session(context)
        log_in(session.page, server.url, "admin", server.passwords["admin"])
        page = session.page
        open_deployment(session, server.deployment_id)
        open_tab(page, "Data drift")
        expect(page.locator('[data-testid="drift-scatter"]')).to_be_visible()
        assert page.evaluate("document.documentElement.classList.contains('dark')"), (
            "Airflow is not in dark mode"
        )
        root = page.locator('[data-testid="mlops-deployment"]')
        text = root.evaluate("el => getComputedStyle(el).color")
        behind = root.evaluate(_OPAQUE_BACKGROUND)
        assert _luminance(text) > 0.6, f"the console's text is not light in dark mode: {text}"
        assert _luminance(behind) < 0.3, f"the page behind the console is not dark: {behind}"
        screenshot(page, "data-drift-dark")
    finally:
        context.close()
