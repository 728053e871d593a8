"""The hostname Airflow records for a task instance: ``$HOSTNAME`` when set.

Airflow's default (``socket.getfqdn``) asks the resolver, which inside a
container gives the container id and on one machine running several Celery
workers gives the same name for all of them. Docker sets ``HOSTNAME`` to the
service's ``hostname:`` from ``docker-compose.yaml``, so with
``AIRFLOW__CORE__HOSTNAME_CALLABLE=airflow_mlops.hostname.container_hostname``
the task list shows ``airflow-worker-1``/``airflow-worker-2``, and the log
fetcher and ``airflow jobs check --hostname "$HOSTNAME"`` agree on the name.
"""

from __future__ import annotations

import os
import socket


def container_hostname() -> str:
    """``$HOSTNAME`` if set and not empty, else the fully qualified domain name."""
    return os.environ.get("HOSTNAME", "").strip() or socket.getfqdn()


__all__ = ["container_hostname"]
