"""``GET /metrics``: Prometheus counters that equal the traffic sent, across two real workers.

The two-worker test starts ``airflow-mlops serve --workers 2`` (the CLI gives it a fresh
``PROMETHEUS_MULTIPROC_DIR``), sends predictions from several threads on fresh
connections (the kernel spreads them over both workers), some of them refused (401,
404, 422), and requires every scrape, whichever worker answers it, to report exactly
the requests and rows sent per status class; then replaces the deployment's model and
waits for both workers' swaps to be counted. The in-process tests cover the prediction
log's failure metrics (a real fault: the log's directory is a regular file) and who may
see which deployment's series.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from helpers.live_server import free_port, serve_app, serve_process
from prometheus_client.parser import text_string_to_metric_families

from airflow_mlops.config import get_settings
from airflow_mlops.datasets import make_churn
from airflow_mlops.deployments import Deployment
from airflow_mlops.security import create_token
from airflow_mlops.serving.app import create_app
from airflow_mlops.serving.metrics import CONTENT_TYPE
from airflow_mlops.storage import as_storage_path

if TYPE_CHECKING:
    from conftest import RegisteredModels

PATH = "/predApi/v1.0/deployments/{}/predictions"
SENDERS = 4
OK_PER_SENDER = 8
UNKNOWN_TOKEN = f"mlops_{'a' * 12}_{'b' * 32}"  # the token shape, but no such token
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _body(rows: int, seed: int, *, drop: tuple[str, ...] = ()) -> str:
    frame = make_churn(rows, seed=seed).drop(columns=["churned", "event_time", *drop])
    return str(frame.to_json(orient="records"))


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scrape(url: str, token: str) -> Samples:
    with httpx.Client(base_url=url, timeout=30) as client:  # a fresh connection: either worker answers
        response = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPE
    return _parse(response.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)


class _Sent:
    """What the senders sent, by status class (counted from the answers, asserted separately)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.rows: dict[tuple[str, str], int] = {}
        self.statuses: list[int] = []

    def add(self, deployment: str, status: int, rows: int) -> None:
        key = (deployment, f"{status // 100}xx")
        with self.lock:
            self.statuses.append(status)
            self.requests[key] = self.requests.get(key, 0) + 1
            self.rows[key] = self.rows.get(key, 0) + rows


def _sender(url: str, deployment_id: str, token: str, index: int, sent: _Sent) -> None:
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    for i in range(OK_PER_SENDER):
        rows = 1 + (index + i) % 5
        with httpx.Client(base_url=url, timeout=60) as client:  # fresh connections spread over workers
            answer = client.post(
                PATH.format(deployment_id), content=_body(rows, seed=index * 100 + i), headers=auth
            )
            assert answer.status_code == 200, answer.text
            sent.add(deployment_id, 200, rows)
            if i % 4 == 0:  # refused: a wrong token (no body is read)
                wrong = {**auth, "Authorization": f"Bearer {UNKNOWN_TOKEN}"}
                answer = client.post(PATH.format(deployment_id), content=_body(2, seed=i), headers=wrong)
                assert answer.status_code == 401
                sent.add(deployment_id, 401, 0)
            if i % 4 == 1:  # refused after the body was read: a feature is missing
                answer = client.post(
                    PATH.format(deployment_id),
                    content=_body(3, seed=i, drop=("tenure_months",)),
                    headers=auth,
                )
                assert answer.status_code == 422, answer.text
                sent.add(deployment_id, 422, 3)
            if i % 4 == 2:  # an id no deployment has: counted without a deployment label
                answer = client.post(PATH.format("0" * 32), content=_body(1, seed=i), headers=auth)
                assert answer.status_code == 404
                sent.add("", 404, 0)


def test_counters_equal_the_traffic_across_two_workers(models: RegisteredModels) -> None:
    settings = get_settings()
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "metrics")
    _info, token = create_token(settings.store_url, user="scraper", is_admin=True)
    port = free_port()
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    command = [sys.executable, "-m", "airflow_mlops.cli", "serve", "--port", str(port), "--workers", "2"]
    url = f"http://127.0.0.1:{port}"
    dep = deployment.id
    v1, v2 = models.churn_v1, models.churn_v2  # the label is the model version id, name/version
    with serve_process(command, ready_url=f"{url}/health", env=env, timeout=120):
        # Both workers warm the deployment's model: two loads, whichever worker is asked.
        _wait_for(
            lambda: (
                _value(_scrape(url, token), "mlops_model_loads_total", deployment=dep, model_version=v1) == 2
            ),
            60,
            "both workers loaded the model",
        )
        sent = _Sent()
        threads = [
            threading.Thread(target=_sender, args=(url, dep, token, index, sent)) for index in range(SENDERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        refused_per_sender = sum(1 for i in range(OK_PER_SENDER) if i % 4 < 3)  # see _sender
        expected = SENDERS * (OK_PER_SENDER + refused_per_sender)
        assert len(sent.statuses) == expected, "a sender failed (see its exception)"

        for _ in range(8):  # every scrape sums both workers, whichever one answers it
            samples = _scrape(url, token)
            for (deployment_label, status_class), count in sent.requests.items():
                labels = {
                    "deployment": deployment_label,
                    "model_version": v1 if deployment_label else "",
                    "status_class": status_class,
                }
                assert _value(samples, "mlops_prediction_requests_total", **labels) == count, labels
                assert (
                    _value(samples, "mlops_prediction_rows_total", **labels)
                    == sent.rows[(deployment_label, status_class)]
                ), labels
                assert _value(samples, "mlops_prediction_request_duration_seconds_count", **labels) == count
                assert (
                    _value(samples, "mlops_prediction_request_duration_seconds_bucket", le="+Inf", **labels)
                    == count
                )
            assert (
                _value(
                    samples,
                    "mlops_prediction_requests_total",
                    deployment=dep,
                    model_version=v1,
                    status_class="5xx",
                )
                == 0
            )

        # The log writes every answered row within about a second; then nothing is pending.
        ok_rows = sent.rows[(dep, "2xx")]
        _wait_for(
            lambda: _value(_scrape(url, token), "mlops_prediction_log_written_rows_total") == ok_rows,
            20,
            f"{ok_rows} rows written to the prediction log",
        )
        samples = _scrape(url, token)
        assert _value(samples, "mlops_prediction_log_pending_rows") == 0
        assert _value(samples, "mlops_prediction_log_flush_failures_total") == 0

        deployment.replace_model(models.churn_v2, "OTHER")

        def swapped() -> bool:
            now = _scrape(url, token)
            return (
                _value(now, "mlops_model_swaps_total", deployment=dep) == 2
                and _value(now, "mlops_model_loads_total", deployment=dep, model_version=v2) == 2
            )

        _wait_for(swapped, 60, "both workers swapped in the new model")
        with httpx.Client(base_url=url, timeout=60) as client:
            answer = client.post(
                PATH.format(dep),
                content=_body(4, seed=7),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
        assert answer.status_code == 200
        samples = _scrape(url, token)
        assert (
            _value(
                samples, "mlops_prediction_rows_total", deployment=dep, model_version=v2, status_class="2xx"
            )
            == 4
        )


@pytest.fixture
def admin_token() -> str:
    return create_token(get_settings().store_url, user="metrics-admin", is_admin=True)[1]


def test_a_failing_log_counts_flush_failures_pending_rows_and_5xx(
    models: RegisteredModels, tmp_path: Path, admin_token: str
) -> None:
    """A real fault: the prediction log's root is a regular file, so no flush can write."""
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("in the way")
    settings = dataclasses.replace(
        get_settings(), prediction_log_dir=as_storage_path(blocked), prediction_log_max_pending_rows=6
    )
    deployment = Deployment.create_from_registered_model_version(models.churn_v1, "metrics-log")
    dep, v1 = deployment.id, models.churn_v1
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    with serve_app(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        before = _scrape(url, admin_token)
        failures_before = _value(before, "mlops_prediction_log_flush_failures_total")
        five_before = _value(
            before, "mlops_prediction_requests_total", deployment=dep, model_version=v1, status_class="5xx"
        )
        statuses = []
        for seed in range(3):  # 9 rows answered and buffered: past the bound of 6 once a flush has failed
            statuses.append(
                client.post(PATH.format(dep), content=_body(3, seed), headers=headers).status_code
            )
        assert statuses == [200, 200, 200]
        _wait_for(
            lambda: (
                _value(_scrape(url, admin_token), "mlops_prediction_log_flush_failures_total")
                > failures_before
            ),
            20,
            "a flush failed and was counted",
        )
        refused = client.post(PATH.format(dep), content=_body(1, 9), headers=headers)
        assert refused.status_code == 503, refused.text
        samples = _scrape(url, admin_token)
        assert _value(samples, "mlops_prediction_log_flush_failures_total") > failures_before
        assert _value(samples, "mlops_prediction_log_pending_rows") == 9
        five = _value(
            samples, "mlops_prediction_requests_total", deployment=dep, model_version=v1, status_class="5xx"
        )
        assert five == five_before + 1
        blocked.unlink()  # the fault ends: the buffered rows are written before the server stops
        _wait_for(
            lambda: _value(_scrape(url, admin_token), "mlops_prediction_log_pending_rows") == 0,
            20,
            "the buffered rows were written once the directory could be made",
        )


def test_metrics_need_a_token_and_show_only_readable_deployments(
    models: RegisteredModels, admin_token: str
) -> None:
    settings = get_settings()
    mine = Deployment.create_from_registered_model_version(models.churn_v1, "metrics-mine")
    theirs = Deployment.create_from_registered_model_version(models.churn_v1, "metrics-theirs")
    mine.share("ursula", "USER")
    theirs.share("ursula", "CONSUMER")  # may predict, not read: its traffic is not hers to see
    _info, ursula = create_token(settings.store_url, user="ursula")
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    with serve_app(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as client:
        for deployment in (mine, theirs):
            assert (
                client.post(PATH.format(deployment.id), content=_body(2, 1), headers=headers).status_code
                == 200
            )
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer mlops_x_y"}).status_code == 401

        def deployments(samples: Samples) -> set[str]:
            return {dict(labels).get("deployment", "") for _name, labels in samples} - {""}

        seen_by_admin = deployments(_scrape(url, admin_token))
        seen_by_ursula = deployments(_scrape(url, ursula))
        assert {mine.id, theirs.id} <= seen_by_admin
        assert seen_by_ursula == {mine.id}
        # Series without a deployment are everyone's: the log's queue depth.
        assert ("mlops_prediction_log_pending_rows", frozenset()) in _scrape(url, ursula)
