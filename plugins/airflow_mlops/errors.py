"""Errors that several layers raise and the REST API maps to status codes.

A leaf module, so that the store-level code that finds a deployment missing
(retraining requests, the prediction server's cache) and the API's error mapping
need not import the deployments package to name the error.
"""

from __future__ import annotations


class DeploymentNotFound(LookupError):
    """No deployment has the given id (the API answers 404)."""


class RegistryUnavailable(RuntimeError):
    """The MLflow tracking or registry server did not answer (the API answers 503).

    Not a ``LookupError``: "MLflow is down" must never read as "no such model", or a
    caller would report a model missing that is only out of reach for a while.
    """
