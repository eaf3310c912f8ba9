"""A property: whatever mix of crashes, lost responses and errors, every change reaches each linked
incident once, in order. The "ServiceNow" here is a dict of work notes that the sender searches for markers."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlite_utils import Database

import storage
from storage import atomic, integrations, links, sync
from storage.sync import Event

from .conftest import T0

STATUSES = ["Active", "Acknowledged", "Resolved"]

step = st.one_of(
    st.tuples(st.just("status"), st.sampled_from(STATUSES)),
    st.tuples(st.just("comment"), st.just("")),
    st.tuples(st.just("detect"), st.sampled_from(["ok", "crash"])),
    st.tuples(st.just("send"), st.sampled_from(["ok", "lost_response", "error", "crash"])),
)


class Crash(BaseException):
    pass


def detect(db: Database, link_id: int, anomaly: dict, now: datetime) -> None:
    state = sync.get_state(db, link_id)
    assert state is not None
    events: list[Event] = []
    if anomaly["status"] != state.last_status:
        key = sync.status_event_key(state, anomaly["status"])
        events.append({"event_key": key, "kind": "status", "payload": {"to": anomaly["status"]}})
    new = [c for c in anomaly["comments"] if c not in state.seen_comment_ids]
    events += [{"event_key": sync.comment_event_key(c), "kind": "comment", "payload": {"id": c}} for c in new]
    sync.record_events(db, link_id, anomaly["status"], False, new, events, now=now)


def send(db: Database, notes: dict[int, list[tuple[str, str]]], outcome: str, now: datetime) -> None:
    for item in sync.due(db, now):
        assert sync.mark_sending(db, item.id, now=now)
        if item.maybe_sent and any(marker == item.marker for marker, _ in notes[item.link_id]):
            sync.mark_done(db, item.id, now=now)
            continue
        if outcome == "error":
            sync.mark_retry(db, item.id, "503", now)
            continue
        notes[item.link_id].append((item.marker, item.event_key))  # ServiceNow wrote the note
        if outcome == "ok":
            sync.mark_done(db, item.id, now=now)
        elif outcome == "lost_response":
            sync.mark_retry(db, item.id, "timeout", now)
        # "crash": nothing is recorded; the lease runs out


@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40))
def test_every_change_reaches_every_linked_incident_once_in_order(steps: list[tuple[str, str]]) -> None:
    db = storage.connect(":memory:")
    storage.migrate(db)
    box = storage.SecretBox(storage.SecretBox.generate_key())
    integration = integrations.save(db, box, instance_url="https://x", username="u", password=SecretStr("p"))
    anomaly: dict = {"status": "Active", "comments": [1]}
    link_ids = []
    for ticket in ("a", "b"):
        link = links.add(
            db,
            anomaly_id=1,
            integration_id=integration.id,
            ticket_sys_id=ticket,
            ticket_number=ticket,
            status="New",
            url="u",
            created_by="me",
            now=T0,
        )
        sync.init_state(db, link.id, anomaly["status"], False, anomaly["comments"], now=T0)
        link_ids.append(link.id)
    notes: dict[int, list[tuple[str, str]]] = {link_id: [] for link_id in link_ids}
    now = T0
    for kind, arg in [*steps, ("detect", "ok"), ("send", "ok"), ("send", "ok")]:
        now += timedelta(minutes=10)  # past any lease or backoff
        if kind == "status":
            anomaly["status"] = arg
        elif kind == "comment":
            anomaly["comments"].append(max(anomaly["comments"]) + 1)
        elif kind == "detect":
            try:
                with atomic(db):
                    for link_id in link_ids:
                        detect(db, link_id, anomaly, now)
                    if arg == "crash":
                        raise Crash
            except Crash:
                pass
        else:
            for _ in range(len(anomaly["comments"]) + len(steps) + 1):  # drain, one item per link per round
                send(db, notes, arg, now)

    assert sync.counts(db)["pending"] == 0 and sync.counts(db)["failed"] == 0
    for link_id in link_ids:
        keys = [key for _, key in notes[link_id]]
        assert len(keys) == len(set(keys)), "a note was written twice"
        assert keys == [item.event_key for item in sync.items(db, link_id)], "notes out of order or missing"
        comments = [int(key.split(":")[1]) for key in keys if key.startswith("comment:")]
        assert comments == anomaly["comments"][1:]
        statuses = ["Active"] + [key.split(":")[2] for key in keys if key.startswith("status:")]
        assert statuses[-1] == anomaly["status"]
        assert all(a != b for a, b in zip(statuses, statuses[1:], strict=False))
