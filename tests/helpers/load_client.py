"""Steady traffic against a prediction server from a process of its own, every answer written down.

Run as a script (``python load_client.py --help``): one thread posts predictions, another
reads the management API (the deployment list and the deployment), until ``--stop-file``
exists. Each request becomes one JSON line in ``--out``: its kind, when it was sent and
answered (``time.time()``, comparable with the test's clock), the status (0 when no HTTP
answer came), the rows answered, and for an error its ``message``, ``detail`` and
``Retry-After``. A separate process, so the server is judged as a client sees it, not
through the test's own threads and GIL.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx


def _record(response: httpx.Response | None, kind: str, sent: float, error: str | None) -> dict[str, Any]:
    record: dict[str, Any] = {"kind": kind, "sent": sent, "done": time.time(), "status": 0, "rows": 0}
    if response is None:
        record["error"] = error
        return record
    record["status"] = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and kind == "predict" and isinstance(body, dict):
        record["rows"] = len(body.get("data", []))
    elif response.status_code != 200:
        if isinstance(body, dict):
            record["message"] = body.get("message")
            record["detail"] = body.get("detail")
        else:
            record["text"] = response.text[:500]
        record["retry_after"] = response.headers.get("retry-after")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--deployment", required=True)
    parser.add_argument("--body-file", required=True, type=Path, help="the JSON records to predict")
    parser.add_argument("--out", required=True, type=Path, help="JSON lines, one per request")
    parser.add_argument("--stop-file", required=True, type=Path, help="stop once this file exists")
    args = parser.parse_args()

    body = args.body_file.read_bytes()
    headers = {"Authorization": f"Bearer {args.token}"}
    lock = threading.Lock()
    out = args.out.open("a", encoding="utf-8")

    def write(record: dict[str, Any]) -> None:
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()

    def loop(kind_and_requests: list[tuple[str, str, str]]) -> None:
        with httpx.Client(base_url=args.base_url, headers=headers, timeout=10) as client:
            while not args.stop_file.exists():
                for kind, method, path in kind_and_requests:
                    sent = time.time()
                    try:
                        response = client.request(
                            method,
                            path,
                            content=body if method == "POST" else None,
                            headers={"Content-Type": "application/json"} if method == "POST" else None,
                        )
                    except httpx.HTTPError as exc:
                        write(_record(None, kind, sent, f"{type(exc).__name__}: {exc}"))
                        time.sleep(0.05)
                        continue
                    write(_record(response, kind, sent, None))
                time.sleep(0.02)  # steady, not flat out: the point is coverage over time, not throughput

    deployment = args.deployment
    threads = [
        threading.Thread(
            target=loop, args=([("predict", "POST", f"/predApi/v1.0/deployments/{deployment}/predictions")],)
        ),
        threading.Thread(
            target=loop,
            args=(
                [
                    ("list", "GET", "/api/v2/deployments/"),
                    ("get", "GET", f"/api/v2/deployments/{deployment}/"),
                ],
            ),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.close()


if __name__ == "__main__":
    main()
