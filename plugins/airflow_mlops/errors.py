"""Errors that several layers raise and the REST API maps to status codes.

A leaf module, so that the store-level code that finds a deployment missing
(retraining requests, the prediction server's cache) and the API's error mapping
need not import the deployments package to name the error.
"""

from __future__ import annotations


class DeploymentNotFound(LookupError):
    """No deployment has the given id (the API answers 404)."""
