"""`Idempotency-Key` on the REST create: a client whose answer was lost (or whose replica died after the
ticket was made) asks again with the same key and gets the same ticket, never a second one; a key used
for another anomaly, or a malformed one, is refused before anything is sent."""

from __future__ import annotations

import httpx

from emulators.servicenow import ServiceNowEmulator
from storage import links
from tests.bot.test_usecases import with_correlation_id

CREATE = "/api/integrations/ticketing/anomalies/{}/tickets"


async def test_the_same_key_answers_the_same_ticket_and_makes_no_second_one(
    api_client: httpx.AsyncClient, sn_emulator: ServiceNowEmulator
) -> None:
    key = {"Idempotency-Key": "chaos-824-1"}
    first = await api_client.post(CREATE.format(824), json={"title": "orders out of range"}, headers=key)
    again = await api_client.post(CREATE.format(824), json={"title": "orders out of range"}, headers=key)
    other = await api_client.post(CREATE.format(824), json={"title": "a second ticket, asked for"})

    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 201), again.text
    assert again.json()["ticket"]["ticket_id"] == first.json()["ticket"]["ticket_id"]
    assert "no second ticket" in again.json()["message"]
    assert other.json()["ticket"]["ticket_id"] != first.json()["ticket"]["ticket_id"]  # no key: a new create
    assert len(with_correlation_id(sn_emulator)) == 2


async def test_a_key_of_another_anomaly_or_a_malformed_key_is_refused_with_nothing_sent(
    api_client: httpx.AsyncClient, sn_emulator: ServiceNowEmulator, snowbot: object
) -> None:
    key = {"Idempotency-Key": "k-1"}
    assert (await api_client.post(CREATE.format(824), json={"title": "t"}, headers=key)).status_code == 201
    reused = await api_client.post(CREATE.format(825), json={"title": "t"}, headers=key)
    blank = await api_client.post(CREATE.format(825), json={"title": "t"}, headers={"Idempotency-Key": "a b"})

    assert reused.status_code == 422 and "anomaly 824" in reused.text
    assert blank.status_code == 422
    assert len(with_correlation_id(sn_emulator)) == 1
    assert links.for_anomaly(snowbot.db, 825) == []  # type: ignore[attr-defined]
