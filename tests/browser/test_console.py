"""The MLOps console in a real browser: Debian's headless Chromium against a real Airflow with the plugin.

One Airflow (``airflow-mlops up``) for the module, on a fresh ``MLOPS_HOME`` where
``airflow-mlops demo`` has told its story (see :mod:`helpers.browser`). Each test
logs in through Airflow's own login page and compares what the page shows with
what the MLOps API answers, fetched with the same browser session (its ``_token``
cookie). Where the page chose a window or a feature, the test replays the exact
request the page made, so both sides look at the same numbers.

Selectors are the contract in UI-CONTRACT.md (``data-testid`` and friends).
The browser's clock is set to just after the story's last simulated day, so the
console's "last 7 days" are the story's days. Screenshots of every page go to ``$MLOPS_TEST_OUTPUT/screenshots`` (default
``tests/output/screenshots``). Skipped, saying why, only where ``chromium`` is absent.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

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

from airflow_mlops.demo import DAYS

pytestmark = pytest.mark.integration

if chromium_path() is None:
    pytest.skip(
        "chromium is not installed (apt-get install -y chromium chromium-driver; `make test` does it as root)",
        allow_module_level=True,
    )

from playwright.sync_api import Browser, BrowserContext, Locator, Page, Request, expect, sync_playwright  # noqa: E402

CONSOLE = "/plugin/mlops"  # the host's route for the react app with url_route "mlops"
TABS = ("Overview", "Service health", "Data drift", "Accuracy", "Humility", "Retraining", "Actions")
#: health badge kind -> the deployment JSON's field
HEALTH = {"service": "serviceHealth", "drift": "modelHealth", "accuracy": "accuracyHealth"}
TIMEOUT_MS = 60_000
#: The browser's clock: an hour after the demo's last simulated day ends. The story's traffic is
#: timestamped in January 2026 (``timestampColumn``), and the console's windows are "the last
#: N days" of the browser's now: from here, its default window holds the whole story.
STORY_NOW = DAYS[-1].end + timedelta(hours=1)
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
        context.clock.install(time=STORY_NOW)
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

    over_time = page.locator('[data-testid="feature-drift-over-time"]')
    expect(over_time).to_be_visible()
    buckets = admin.replay(admin.last_call("/featureDriftOverTime/"))["buckets"]
    assert buckets, admin.last_call("/featureDriftOverTime/")
    expect(over_time).to_have_attribute("data-point-count", str(len(buckets)))
    screenshot(page, "data-drift")


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
