"""Outbox rows and open intents claimed by one replica at a time, with leases another replica may take
over once they run out (issue 15: several `snowbot run` on one database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlite_utils import Database

from storage import intents, sync
from storage.integrations import Integration
from storage.links import Link

from .conftest import T0

LEASE = timedelta(seconds=30)


def queued(db: Database, make_link: Callable[..., Link]) -> sync.OutboxItem:
    link = make_link()
    sync.init_state(db, link.id, "Active", False, [], now=T0)
    sync.record_events(
        db,
        link.id,
        "Active",
        False,
        [7],
        [{"event_key": "comment:7", "kind": "comment", "payload": {}}],
        now=T0,
    )
    [item] = sync.due(db, T0)
    return item


def test_a_claim_names_its_replica_and_its_lease_and_only_one_replica_wins_it(
    db: Database, make_link: Callable[..., Link]
) -> None:
    item = queued(db, make_link)
    assert sync.mark_sending(db, item.id, now=T0, lease=LEASE, by="a:3000")
    assert not sync.mark_sending(db, item.id, now=T0 + LEASE / 2, lease=LEASE, by="b:3000")
    claimed = sync.get_item(db, item.id)
    assert claimed is not None
    assert (claimed.claimed_by, claimed.lease_until) == ("a:3000", T0 + LEASE)
    assert sync.due(db, T0 + LEASE / 2) == []  # nobody else is offered it while the lease runs


def test_an_expired_claim_goes_to_another_replica_which_looks_before_sending_and_the_first_loses_it(
    db: Database, make_link: Callable[..., Link]
) -> None:
    item = queued(db, make_link)
    assert sync.mark_sending(db, item.id, now=T0, lease=LEASE, by="a:3000")  # ... and a stalls or dies
    later = T0 + LEASE
    [again] = sync.due(db, later)
    assert again.maybe_sent  # the taker reads the journal first
    assert sync.mark_sending(db, item.id, now=later, lease=LEASE, by="b:3000")

    assert not sync.renew_lease(db, item.id, by="a:3000", now=later, lease=LEASE)  # a must not write now
    assert not sync.mark_retry(db, item.id, "late answer", later + LEASE, by="a:3000")
    sync.mark_failed(db, item.id, "late refusal", by="a:3000")
    current = sync.get_item(db, item.id)
    assert current is not None and (current.state, current.claimed_by, current.last_error) == (
        "sending",
        "b:3000",
        None,
    )
    assert sync.renew_lease(db, item.id, by="b:3000", now=later + LEASE / 2, lease=LEASE)
    renewed = sync.get_item(db, item.id)
    assert renewed is not None and renewed.lease_until == later + LEASE / 2 + LEASE
    sync.mark_done(db, item.id, now=later, by="b:3000")
    done = sync.get_item(db, item.id)
    assert done is not None and (done.state, done.lease_until) == ("done", None)


def test_a_lease_that_ran_out_cannot_be_renewed_even_by_its_holder(
    db: Database, make_link: Callable[..., Link]
) -> None:
    item = queued(db, make_link)
    assert sync.mark_sending(db, item.id, now=T0, lease=LEASE, by="a:3000")
    assert not sync.renew_lease(db, item.id, by="a:3000", now=T0 + LEASE, lease=LEASE)


def record(db: Database, integration: Integration, **claim: object) -> intents.Intent:
    return intents.record(
        db,
        kind="create",
        anomaly_id=824,
        integration_id=integration.id,
        fields={},
        baseline={},
        actor="U1",
        correlation_id="snowbot:824:x",
        now=T0,
        **claim,  # type: ignore[arg-type]
    )


def test_an_intent_is_claimed_by_its_request_and_taken_over_only_once_the_lease_ran_out(
    db: Database, integration: Integration, make_link: Callable[..., Link]
) -> None:
    intent = record(db, integration, claimed_by="a:3000", lease=LEASE)
    assert (intent.claimed_by, intent.lease_until) == ("a:3000", T0 + LEASE)
    assert intents.claim(db, intent.id, by="a:3000", now=T0, lease=LEASE)  # its own replica, again
    assert not intents.claim(db, intent.id, by="b:3000", now=T0 + LEASE / 2, lease=LEASE)
    assert intents.claim(db, intent.id, by="b:3000", now=T0 + LEASE, lease=LEASE)
    assert not intents.claim(db, intent.id, by="a:3000", now=T0 + LEASE, lease=LEASE)
    intents.mark_linked(db, intent.id, make_link().id)
    assert not intents.claim(db, intent.id, by="b:3000", now=T0 + LEASE, lease=LEASE)  # not open any more


def test_an_intent_recorded_without_a_replica_is_free_to_claim(
    db: Database, integration: Integration
) -> None:
    intent = record(db, integration)
    assert (intent.claimed_by, intent.lease_until) == (None, None)
    assert intents.claim(db, intent.id, by="b:3000", now=T0, lease=LEASE)
