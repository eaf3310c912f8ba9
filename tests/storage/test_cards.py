"""The anomaly cards' storage: one card per Slack thread, claimed before it is posted; watched channels."""

from __future__ import annotations

from sqlite_utils import Database

from storage import cards

from .conftest import T0

THREAD = {"channel_id": "C_ALERTS", "thread_ts": "1700000001.000100"}


def test_a_thread_is_claimed_once_and_its_card_listed_once_posted(db: Database) -> None:
    assert cards.claim(db, **THREAD, anomaly_id=824, now=T0) is True
    assert cards.claim(db, **THREAD, anomaly_id=824, now=T0) is False  # a retried event, a second link
    assert cards.for_anomaly(db, 824) == []  # being posted: nothing to update yet

    cards.posted(db, **THREAD, ts="1700000002.000200", now=T0)

    [card] = cards.for_anomaly(db, 824)
    assert (card.channel_id, card.thread_ts, card.ts) == (
        THREAD["channel_id"],
        THREAD["thread_ts"],
        "1700000002.000200",
    )
    assert cards.get(db, **THREAD) == card
    assert cards.claim(db, **THREAD, anomaly_id=825, now=T0) is False


def test_a_failed_post_gives_the_thread_back_but_never_a_posted_card(db: Database) -> None:
    cards.claim(db, **THREAD, anomaly_id=824, now=T0)
    cards.release(db, **THREAD)
    assert cards.get(db, **THREAD) is None
    assert cards.claim(db, **THREAD, anomaly_id=824, now=T0) is True

    cards.posted(db, **THREAD, ts="1.2", now=T0)
    cards.release(db, **THREAD)  # only an unposted claim is released
    assert cards.get(db, **THREAD) is not None
    cards.forget(db, **THREAD)
    assert cards.get(db, **THREAD) is None


def test_watched_channels(db: Database) -> None:
    assert cards.watch(db, "C_ALERTS", "jane via Slack", now=T0) is True
    assert cards.watch(db, "C_ALERTS", "bob via Slack", now=T0) is False
    assert cards.watch(db, "G_PRIVATE", "bob via Slack", now=T0) is True
    assert [c.channel_id for c in cards.watched(db)] == ["C_ALERTS", "G_PRIVATE"]
    assert cards.is_watched(db, "C_ALERTS") and not cards.is_watched(db, "C_OTHER")
    assert cards.unwatch(db, "C_ALERTS") is True
    assert cards.unwatch(db, "C_ALERTS") is False
    assert [c.channel_id for c in cards.watched(db)] == ["G_PRIVATE"]
