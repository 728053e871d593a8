"""Which local directories ingestion may read from.

An ingestion source is usually a templated DAG parameter, so anyone who can
trigger a DAG could otherwise make a worker read (and snapshot, and show in a
profile) any file the worker can see: ``/etc/passwd``, another team's data, the
Airflow metadata DB. Local paths (and ``file://`` URLs) are therefore only
accepted under *allowed roots*:

* ``MLOPS_ALLOWED_ROOTS``: directories separated by ``os.pathsep`` (``:`` on
  Linux). When set, it is the whole list.
* otherwise ``MLOPS_HOME`` (default ``./.mlops``) and the current working
  directory, where the demo and a project's ``include/`` data live.

The system temporary directory is deliberately *not* a default root: it is
shared by every user and process on the machine. Tests set
``MLOPS_ALLOWED_ROOTS`` explicitly.

Paths are resolved (``..`` and symbolic links) before the check, so a link
inside a root that points outside it is refused. Remote object-store URLs
(``s3://``, ``gs://``, ``memory://``, ...) are not subject to roots: access to
them is governed by the credentials of the connection that reads them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from airflow_mlops.datasets.errors import SourceError

ALLOWED_ROOTS_ENV = "MLOPS_ALLOWED_ROOTS"


def allowed_roots(roots: Iterable[str | os.PathLike[str]] | None = None) -> list[Path]:
    """The resolved allowed roots: ``roots`` if given, else the environment, else the defaults."""
    if roots is None:
        configured = os.environ.get(ALLOWED_ROOTS_ENV, "")
        if configured.strip():
            roots = [part for part in configured.split(os.pathsep) if part.strip()]
        else:
            roots = [os.environ.get("MLOPS_HOME") or ".mlops", Path.cwd()]
    resolved: list[Path] = []
    for root in roots:
        path = Path(root).expanduser().resolve()
        if path not in resolved:
            resolved.append(path)
    return resolved


def check_allowed(
    path: str | os.PathLike[str], roots: Sequence[str | os.PathLike[str]] | None = None
) -> Path:
    """Return ``path`` resolved, or raise :class:`SourceError` if it is outside every allowed root."""
    resolved = Path(path).expanduser().resolve()
    allowed = allowed_roots(roots)
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        shown = ", ".join(str(r) for r in allowed) or "none"
        raise SourceError(
            f"{path}: path {str(resolved)!r} is outside the allowed roots [{shown}]; expected a file under "
            f"one of them (set {ALLOWED_ROOTS_ENV} to a {os.pathsep!r}-separated list of directories "
            "to allow others)",
            source=str(path),
            check="allowed_roots",
        )
    return resolved
