from __future__ import annotations

import pytest
from pydantic import SecretStr

from servicenow import Credentials, parse_credentials, validate_instance_url
from servicenow.errors import ConfigurationError, ServiceNowError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://dev-snowbot.service-now.com", "https://dev-snowbot.service-now.com"),
        ("  https://Dev-Snowbot.Service-Now.com  ", "https://dev-snowbot.service-now.com"),
        ("HTTPS://acme.service-now.com", "https://acme.service-now.com"),
        ("https://snow.example.org:8443", "https://snow.example.org:8443"),
        ("https://1.2.3.4", "https://1.2.3.4"),
    ],
)
def test_accepts_https_instance_urls(url: str, expected: str) -> None:
    assert validate_instance_url(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.3.4.5", "http://127.3.4.5"),
        ("http://localhost:9000", "http://localhost:9000"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_accepts_http_for_loopback_only_when_insecure_is_allowed(url: str, expected: str) -> None:
    assert validate_instance_url(url, allow_insecure=True) == expected
    with pytest.raises(ConfigurationError, match="allow_insecure"):
        validate_instance_url(url)


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("dev-snowbot.service-now.com", "must start with https://"),
        ("https://dev-snowbot.service-now.com/", "remove the trailing slash"),
        ("https://dev-snowbot.service-now.com/now/nav/ui", "remove the path '/now/nav/ui'"),
        ("https://dev-snowbot.service-now.com/api/now/table/incident", "remove the path"),
        ("https://dev-snowbot.service-now.com?x=1", "remove the query string"),
        ("https://dev-snowbot.service-now.com?", "remove the query string"),
        ("https://dev-snowbot.service-now.com#top", "remove the fragment"),
        ("http://dev-snowbot.service-now.com", "use https://"),
        ("http://10.1.2.3", "use https://"),
        ("ftp://dev-snowbot.service-now.com", "use https://"),
        ("https://", "no valid host name"),
        ("https://dev snowbot.service-now.com", "no valid host name"),
        ("https://dev_snowbot!.service-now.com", "no valid host name"),
        ("https://dev-snowbot.service-now.com:99999", "malformed"),
        ("https://[::1", "malformed"),
    ],
)
def test_refuses_other_urls_saying_what_to_change(url: str, advice: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        validate_instance_url(url, allow_insecure=True)
    assert advice in str(caught.value)
    assert isinstance(caught.value, ServiceNowError)


def test_http_to_a_remote_host_is_refused_even_when_insecure_is_allowed() -> None:
    with pytest.raises(ConfigurationError, match="use https://"):
        validate_instance_url("http://dev-snowbot.service-now.com", allow_insecure=True)


def test_url_with_user_info_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigurationError) as caught:
        validate_instance_url("https://admin:Sup3rSecret@dev-snowbot.service-now.com")
    assert "remove the user name and password" in caught.value.message
    assert "Sup3rSecret" not in caught.value.message
    assert "Sup3rSecret" not in repr(caught.value)


@pytest.mark.parametrize(
    ("text", "username", "password"),
    [
        ("admin:admin", "admin", "admin"),
        ("svc_qualytics:pa:ss:word", "svc_qualytics", "pa:ss:word"),
        ("user:  spaced pass ", "user", "  spaced pass "),
        ("user::", "user", ":"),
        (SecretStr("svc:secret"), "svc", "secret"),
    ],
)
def test_parse_credentials_splits_on_the_first_colon(
    text: str | SecretStr, username: str, password: str
) -> None:
    credentials = parse_credentials(text)
    assert credentials == Credentials(username=username, password=SecretStr(password))
    assert credentials.password.get_secret_value() == password


@pytest.mark.parametrize(
    ("text", "advice"),
    [
        ("justapasswordNoColon", "no colon"),
        ("", "no colon"),
        (":Hunter2pw", "user name before the colon is empty"),
        ("   :Hunter2pw", "user name before the colon is empty"),
        ("admin:", "password after the colon is empty"),
        (" admin:Hunter2pw", "remove the spaces or line breaks around the user name"),
        ("admin:Hunter2pw\n", "line break"),
        ("admin:Hunter2\r\npw", "line break"),
    ],
)
def test_parse_credentials_errors_explain_the_format_and_hide_the_password(text: str, advice: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_credentials(text)
    message = caught.value.message
    assert "`username:password`" in message
    assert advice in message
    for shown in (message, repr(caught.value), str(caught.value.detail)):
        assert "Hunter2" not in shown
        assert "justapassword" not in shown


def test_credentials_never_show_the_password() -> None:
    credentials = parse_credentials("svc:Hunter2pw")
    for shown in (repr(credentials), str(credentials), credentials.model_dump_json()):
        assert "Hunter2pw" not in shown
    assert "svc" in repr(credentials)
