"""What the schemathesis fuzz in ``test_openapi.py`` checks, and how it steers generation.

The checks: no 5xx; the status code, content type, headers and body are the
documented ones; and every 4xx is JSON whose ``message`` is a sentence, naming
each field a validation error is about. Generation is steered only where random
data would never reach the server's logic: a positive create or model
replacement sometimes names a model that is in the registry (else every
create would be a 422 and nothing would follow it).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import CheckFunction

#: Bounded and reproducible: the same examples on every run, and nothing written into the repo.
EXAMPLES = 6


def fuzz_settings(max_examples: int = EXAMPLES, **kwargs: Any) -> settings:
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        # No shrinking: a failure is reported as found (the regression test keeps the exact request).
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        **kwargs,
    )


def errors_say_what(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 4xx is JSON with a ``message``; a validation error's message names every field it is about."""
    del ctx
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError as exc:
        raise AssertionError(
            f"a {response.status_code} that is not JSON: {response.content[:200]!r}"
        ) from exc
    message = body.get("message") if isinstance(body, dict) else None
    assert isinstance(message, str) and message.strip(), f"a {response.status_code} with no message: {body}"
    detail = body.get("detail")
    if response.status_code == 422 and isinstance(detail, list):
        for entry in detail:
            loc = [str(p) for p in entry.get("loc", ())]
            field = "body" if entry.get("type") == "json_invalid" or len(loc) < 2 else loc[-1]
            assert field in message, f"the message does not name {field!r}: {message!r}"
    return True


def checks() -> list[CheckFunction]:
    """schemathesis's conformance checks, plus :func:`errors_say_what`."""
    from schemathesis import checks as builtin

    return [
        builtin.not_a_server_error,
        builtin.status_code_conformance,
        builtin.content_type_conformance,
        builtin.response_headers_conformance,
        builtin.response_schema_conformance,
        builtin.negative_data_rejection,
        errors_say_what,
    ]


def stateful_checks() -> list[CheckFunction]:
    """:func:`checks`, and what a sequence shows: a deleted deployment is gone, a created one is there."""
    from schemathesis import checks as builtin

    return [*checks(), builtin.use_after_free, builtin.ensure_resource_availability]


#: (path, method) -> the body field that names a registered model version.
MODEL_FIELDS = {
    ("/api/v2/deployments/fromModelPackage/", "POST"): "modelPackageId",
    ("/api/v2/deployments/{deployment_id}/model/", "PATCH"): "modelId",
    ("/api/v2/deployments/{deployment_id}/model/validation/", "POST"): "modelId",
}


def steer_models(schema: schemathesis.BaseSchema, models: list[str]) -> None:
    """Positive bodies that name a model name one of ``models`` two times in three."""

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_case(context: Any, case: Case) -> st.SearchStrategy[Case]:
        del context
        field = MODEL_FIELDS.get((case.operation.path, case.operation.method.upper()))
        positive = case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE
        if field is None or not positive or not isinstance(case.body, dict):
            return st.just(case)

        def with_model(model: str | None) -> Case:
            if model is not None:
                body = {k: v for k, v in case.body.items() if k not in ("modelId", "modelPackageId")}
                case.body = {**body, field: model}
            return case

        return st.sampled_from([*models, None]).map(with_model)
