"""The password (or its base64 in the Authorization header) shows up nowhere: messages, reprs, exception
chains, logs."""

from __future__ import annotations

import base64
import logging
import socket
import traceback

import httpx
import pytest

from servicenow import RetryPolicy, ServiceNowClient
from servicenow.errors import (
    AuthenticationError,
    ServiceNowConnectionError,
    ServiceNowError,
    ServiceNowTimeoutError,
)
from tests.servicenow.samples import INSTANCE, PASSWORD, SYS_ID, USERNAME, error_body

TOKEN = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, TOKEN, PASSWORD.split(":")[1])


def everything_shown(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """All the text a person or a log collector could see about this error."""
    shown = [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text]
    shown += [getattr(error, name) or "" for name in ("message", "detail")]
    cause = error.__cause__ or error.__context__
    while cause is not None:
        shown += [str(cause), repr(cause), *(str(arg) for arg in cause.args)]
        cause = cause.__cause__ or cause.__context__
    return "\n".join(shown)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_connection_refused_on_a_real_socket(credentials, sleeps, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    url = f"http://127.0.0.1:{free_port()}"
    retry = RetryPolicy(attempts=2, sleep=sleeps)
    async with ServiceNowClient.connect(url, credentials, retry=retry, allow_insecure=True) as client:
        with pytest.raises(ServiceNowConnectionError) as caught:
            await client.get_incident(SYS_ID)

    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert caught.value.__cause__.request.headers["Authorization"] == f"Basic {TOKEN}"  # the secret was there
    assert len(sleeps.delays) == 1 and "retry 1 of 1" in caplog.text  # and the logs were captured
    assert_no_secret(everything_shown(caught.value, caplog))


@pytest.mark.parametrize(
    "mock",
    [
        {"side_effect": httpx.ReadTimeout},
        {"side_effect": httpx.ConnectError},
        {
            "return_value": httpx.Response(
                401, json=error_body("User Not Authenticated", "Required to provide Auth information")
            )
        },
        {
            "return_value": httpx.Response(
                403, json=error_body("Operation Failed", "ACL Exception Update Failed")
            )
        },
        {"return_value": httpx.Response(503, text="<html>down</html>")},
        {"return_value": httpx.Response(200, text="<!DOCTYPE html><html>hibernating</html>")},
    ],
)
async def test_errors_from_every_path_hide_the_credentials(client, router, caplog, mock) -> None:
    caplog.set_level(logging.DEBUG)
    route = router.patch(f"/api/now/table/incident/{SYS_ID}").mock(**mock)
    with pytest.raises(ServiceNowError) as caught:
        await client.add_work_note(SYS_ID, "note", retry_safe=True)

    assert route.calls.last.request.headers["Authorization"] == f"Basic {TOKEN}"
    assert_no_secret(everything_shown(caught.value, caplog))


async def test_timeout_and_auth_errors_are_the_expected_types(client, router) -> None:
    """Guards the parametrized test above against passing because nothing was raised where expected."""
    route = router.get(f"/api/now/table/incident/{SYS_ID}")
    route.mock(side_effect=httpx.ReadTimeout)
    with pytest.raises(ServiceNowTimeoutError):
        await client.get_incident(SYS_ID)
    route.mock(return_value=httpx.Response(401, json=error_body("User Not Authenticated")))
    with pytest.raises(AuthenticationError):
        await client.get_incident(SYS_ID)


def test_client_and_credentials_reprs(client, credentials) -> None:
    assert_no_secret(repr(client) + str(client) + repr(credentials) + str(credentials) + repr(vars(client)))
    assert repr(client) == f"ServiceNowClient('{INSTANCE}')"
