"""Property-based run over `/api/openapi.json` (schemathesis + hypothesis): generated requests to every
operation, with the token, against the emulators. No answer may be a 500, and every answer must match the
documented schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from bot.app import build_app
from bot.settings import Settings
from bot.usecases import Snowbot
from tests.conftest import API_TOKEN

EXAMPLES_PER_OPERATION = 25
SEEDED_ANOMALIES = st.sampled_from([None, 823, 824, 826])
"""Half the time a generated request is pointed at an anomaly the Qualytics emulator has."""


def test_no_server_errors(snowbot: Snowbot, settings: Settings) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", build_app(settings, snowbot=snowbot))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 18  # the seventeen /api operations and /healthz

    for operation in operations:

        @given(case=operation.as_strategy(), anomaly_id=SEEDED_ANOMALIES)
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,  # the same examples on every run: CI is reproducible
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case, anomaly_id: int | None) -> None:
            if anomaly_id is not None and "anomaly_id" in (case.path_parameters or {}):
                case.path_parameters = {**case.path_parameters, "anomaly_id": anomaly_id}
            response = case.call(headers={"Authorization": f"Bearer {API_TOKEN}"})
            assert response.status_code != 500, (case.method, case.formatted_path, response.text)
            # Schema-valid data may still be refused: category/subcategory must be the instance's choices.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        check()


def test_invalid_requests_are_refused_with_a_documented_status(snowbot: Snowbot, settings: Settings) -> None:
    """Schemathesis' negative mode: requests the document calls invalid (a path id out of range, a
    credentials string without a colon, a body of the wrong type, ...) are answered with a status the
    operation documents, in its documented shape, never a 500."""
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", build_app(settings, snowbot=snowbot))

    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers={"Authorization": f"Bearer {API_TOKEN}"})
            assert response.status_code != 500, (case.method, case.formatted_path, response.text)
            # Not negative_data_rejection: schemathesis also counts an unknown query parameter and a
            # missing Authorization header (which `call` adds back) as invalid data.
            case.validate_response(
                response, excluded_checks=[positive_data_acceptance, negative_data_rejection]
            )

        try:
            check()
        except Unsatisfiable:  # nothing in the operation can be made invalid (no parameter, no body)
            continue
        checked.append(operation.path)
    assert len(checked) == 17, checked  # the /api operations; /healthz has nothing to make invalid
