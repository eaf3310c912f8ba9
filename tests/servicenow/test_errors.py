"""Every way an answer (or its absence) maps to a `ServiceNowError` a person can act on."""

from __future__ import annotations

import httpx
import pytest
import respx

from servicenow import RetryPolicy
from servicenow.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
    QueryError,
    RateLimitError,
    ServerError,
    ServiceNowConnectionError,
    ServiceNowError,
    ServiceNowTimeoutError,
)
from tests.servicenow.samples import HIBERNATION_PAGE, SYS_ID, envelope, error_body, incident_record

ONE_INCIDENT = f"/api/now/table/incident/{SYS_ID}"

STATUS_CASES = [
    pytest.param(
        400,
        error_body("Invalid table x"),
        BadRequestError,
        "Invalid table x",
        ["ServiceNow rejected the request: Invalid table x"],
        id="400-invalid-table",
    ),
    pytest.param(
        400,
        error_body(
            "Exception while reading request", "Rejected large REST payload with content-length = 11000000"
        ),
        BadRequestError,
        "Exception while reading request: Rejected large REST payload with content-length = 11000000",
        ["Check the table, fields and values"],
        id="400-payload-too-large",
    ),
    pytest.param(
        401,
        error_body("User Not Authenticated", "Required to provide Auth information"),
        AuthenticationError,
        "User Not Authenticated: Required to provide Auth information",
        [
            "check the `username:password` format",
            "the account is active and not locked",
            "basic auth restriction (Brazil release)",
            '"Web service access only", presents MFA, or has the snc_basic_auth_api_access role',
        ],
        id="401",
    ),
    pytest.param(
        403,
        error_body(
            "Operation Failed",
            "Data Policy Exception: \n\tThe following fields are mandatory: Resolution code, Close notes",
        ),
        PermissionDeniedError,
        "Operation Failed: Data Policy Exception: The following fields are mandatory: Resolution code, Close notes",
        [
            "ServiceNow refused to read a record of incident",
            "The following fields are mandatory: Resolution code, Close notes",
            "Fill in the fields it names",
        ],
        id="403-data-policy",
    ),
    pytest.param(
        403,
        error_body(
            "Insufficient rights to query records",
            "Field(s) present in the query do not have permission to be read",
        ),
        PermissionDeniedError,
        "Insufficient rights to query records: Field(s) present in the query do not have permission to be read",
        ["ServiceNow refused to read a record of incident (HTTP 403: Insufficient rights", "An ACL"],
        id="403-acl",
    ),
    pytest.param(
        404,
        error_body("No Record found", "Record doesn't exist or ACL restricts the record retrieval"),
        NotFoundError,
        "No Record found: Record doesn't exist or ACL restricts the record retrieval",
        ["check the sys_id or number"],
        id="404",
    ),
    pytest.param(
        429,
        error_body("Rate limit exceeded", "Rate limit of 100 requests per hour for Table API exceeded"),
        RateLimitError,
        "Rate limit exceeded: Rate limit of 100 requests per hour for Table API exceeded",
        ["try again in a few minutes"],
        id="429",
    ),
    pytest.param(
        500, error_body("Internal error"), ServerError, "Internal error", ["usually temporary"], id="500"
    ),
    pytest.param(503, None, ServerError, None, ["HTTP 503", "usually temporary"], id="503-no-body"),
    pytest.param(
        405,
        error_body("Method not Supported"),
        APIStatusError,
        "Method not Supported",
        ["HTTP 405"],
        id="405",
    ),
]


@pytest.mark.parametrize(("status", "body", "error_type", "detail", "phrases"), STATUS_CASES)
async def test_status_maps_to_error(make_client, router, status, body, error_type, detail, phrases) -> None:
    route = (
        router.get(ONE_INCIDENT).respond(status, json=body)
        if body
        else router.get(ONE_INCIDENT).respond(status)
    )
    client = make_client(RetryPolicy(attempts=1))

    with pytest.raises(ServiceNowError) as caught:
        await client.get_incident(SYS_ID)

    error = caught.value
    assert type(error) is error_type
    assert isinstance(error, APIStatusError)
    assert error.status_code == status
    assert error.detail == detail
    assert str(error) == error.message
    for phrase in phrases:
        assert phrase in error.message
    assert route.call_count == 1


async def test_rate_limit_carries_retry_after(make_client, router) -> None:
    router.get(ONE_INCIDENT).respond(
        429, json=error_body("Rate limit exceeded"), headers={"Retry-After": "120"}
    )
    with pytest.raises(RateLimitError) as caught:
        await make_client(RetryPolicy(attempts=1)).get_incident(SYS_ID)
    assert caught.value.retry_after == 120.0
    assert "try again in 120 seconds" in caught.value.message


@pytest.mark.parametrize(
    ("headers", "text"),
    [
        ({"Content-Type": "text/html;charset=UTF-8"}, HIBERNATION_PAGE),
        ({}, "\n  " + HIBERNATION_PAGE),
        ({"Content-Type": "application/json"}, "<html><body>Instance hibernating</body></html>"),
    ],
)
async def test_web_page_with_200_means_hibernating(client, router, headers, text) -> None:
    router.get(ONE_INCIDENT).respond(200, text=text, headers=headers)
    with pytest.raises(InvalidResponseError) as caught:
        await client.get_incident(SYS_ID)
    assert caught.value.message.startswith(
        "the instance answered with a web page, not the API: is it hibernating? wake it up in the developer portal"
    )
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    ("response", "phrase"),
    [
        (
            httpx.Response(200, text="OK", headers={"Content-Type": "text/plain"}),
            "answered with text/plain, not JSON",
        ),
        (httpx.Response(200, json={"records": []}), "has no 'result'"),
        (httpx.Response(200, json=["result"]), "has no 'result'"),
        (httpx.Response(200, json=envelope("just text")), "something other than a record"),
        (
            httpx.Response(200, json=envelope(incident_record(sys_created_on="noon"))),
            "cannot read (sys_created_on",
        ),
        (
            httpx.Response(302, headers={"Location": "https://developer.servicenow.com/hibernating"}),
            "redirected",
        ),
    ],
)
async def test_answers_that_are_not_the_table_api(client, router, response, phrase) -> None:
    router.get(ONE_INCIDENT).mock(return_value=response)
    with pytest.raises(InvalidResponseError) as caught:
        await client.get_incident(SYS_ID)
    assert phrase in caught.value.message


async def test_list_answered_with_a_single_record_is_invalid(client, router) -> None:
    router.get("/api/now/table/incident").respond(200, json=envelope(incident_record()))
    with pytest.raises(InvalidResponseError, match="single record"):
        await client.check_connection()


@pytest.mark.parametrize(
    ("exception", "error_type", "phrase"),
    [
        (
            httpx.ConnectError("[Errno -2] Name or service not known"),
            ServiceNowConnectionError,
            "check the instance URL, DNS and firewall",
        ),
        (
            httpx.ReadError("connection reset"),
            ServiceNowConnectionError,
            "check the instance URL, DNS and firewall",
        ),
        (
            httpx.ConnectTimeout("timed out"),
            ServiceNowTimeoutError,
            "Network timeout: a firewall may be blocking; ensure this host is allowlisted",
        ),
        (
            httpx.ReadTimeout("timed out"),
            ServiceNowTimeoutError,
            "Network timeout: a firewall may be blocking; ensure this host is allowlisted",
        ),
    ],
)
async def test_transport_failures(make_client, router, exception, error_type, phrase) -> None:
    router.get(ONE_INCIDENT).mock(side_effect=exception)
    with pytest.raises(ServiceNowConnectionError) as caught:
        await make_client(RetryPolicy(attempts=1)).get_incident(SYS_ID)
    assert type(caught.value) is error_type
    assert phrase in caught.value.message
    assert str(exception) in caught.value.message
    assert caught.value.detail == str(exception)
    assert caught.value.status_code is None
    assert caught.value.__cause__ is exception


def test_tree() -> None:
    assert issubclass(ServiceNowTimeoutError, ServiceNowConnectionError)
    for error_type in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ServerError,
    ):
        assert issubclass(error_type, APIStatusError)
    for error_type in (
        ConfigurationError,
        QueryError,
        ServiceNowConnectionError,
        InvalidResponseError,
        APIStatusError,
    ):
        assert issubclass(error_type, ServiceNowError)


def test_error_repr_and_str() -> None:
    error = NotFoundError("look elsewhere", status_code=404, detail="No Record found")
    assert str(error) == "look elsewhere"
    assert repr(error) == "NotFoundError(message='look elsewhere', status_code=404)"
    assert RateLimitError("slow down", retry_after=3).status_code == 429


async def test_validation_errors_send_nothing(client, router: respx.MockRouter) -> None:
    with pytest.raises(QueryError, match="is not a ServiceNow sys_id"):
        await client.get_incident("../../sys_user")
    assert router.calls.call_count == 0


@pytest.mark.parametrize(
    ("exception", "may_be_applied"),
    [
        pytest.param(httpx.ConnectError("refused"), False, id="connect-error"),
        pytest.param(httpx.ConnectTimeout("timed out"), False, id="connect-timeout"),
        pytest.param(httpx.PoolTimeout("no free connection"), False, id="pool-timeout"),
        pytest.param(httpx.ReadTimeout("timed out"), True, id="read-timeout"),
        pytest.param(httpx.WriteTimeout("timed out"), True, id="write-timeout"),
        pytest.param(httpx.ReadError("connection reset"), True, id="read-error"),
        pytest.param(httpx.RemoteProtocolError("Server disconnected"), True, id="dropped-response"),
    ],
)
async def test_a_create_that_may_have_arrived_says_so(make_client, router, exception, may_be_applied) -> None:
    """Only a request that provably never left may be sent again blindly."""
    router.post("/api/now/table/incident").mock(side_effect=exception)
    with pytest.raises(ServiceNowConnectionError) as caught:
        await make_client().create_incident({"short_description": "x"})
    assert caught.value.may_be_applied is may_be_applied
    assert ("may have applied the change anyway" in caught.value.message) is may_be_applied


@pytest.mark.parametrize(("status", "may_be_applied"), [(500, False), (502, True), (503, False), (504, True)])
async def test_a_gateway_error_may_have_been_applied(make_client, router, status, may_be_applied) -> None:
    router.post("/api/now/table/incident").respond(status)
    with pytest.raises(ServerError) as caught:
        await make_client().create_incident({"short_description": "x"})
    assert caught.value.may_be_applied is may_be_applied


@pytest.mark.parametrize(
    ("response", "may_be_applied"),
    [
        pytest.param(httpx.Response(201, text="not json"), True, id="not-json"),
        pytest.param(httpx.Response(201, json={"nothing": 1}), True, id="no-result"),
        pytest.param(httpx.Response(201, json=envelope({"sys_id": "x"})), True, id="unreadable-record"),
        pytest.param(
            httpx.Response(200, html=HIBERNATION_PAGE), False, id="hibernating"
        ),  # not the Table API
        pytest.param(httpx.Response(302, headers={"location": "/login"}), False, id="redirect"),
    ],
)
async def test_an_unreadable_success_may_have_been_applied(
    make_client, router, response, may_be_applied
) -> None:
    router.post("/api/now/table/incident").mock(return_value=response)
    with pytest.raises(InvalidResponseError) as caught:
        await make_client().create_incident({"short_description": "x"})
    assert caught.value.may_be_applied is may_be_applied


def test_refusals_were_not_applied() -> None:
    assert not NotFoundError("x", status_code=404).may_be_applied
    assert not RateLimitError("x").may_be_applied
    assert ServiceNowTimeoutError("x").may_be_applied  # without knowing better: cautious
    assert not ServiceNowTimeoutError("x", may_be_applied=False).may_be_applied
