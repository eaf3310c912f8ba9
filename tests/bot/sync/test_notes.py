"""The texts written into ServiceNow: the spec's formats plus the trailer that carries the marker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.sync import notes


def test_status_note_in_the_spec_format_with_its_trailer() -> None:
    payload = {"anomaly_id": 824, "status": "Acknowledged", "observed_at": "2024-01-15T10:30:00+00:00"}
    assert notes.work_note("status", payload, "snowbot-00ff") == (
        "[2024-01-15 10:30:00 UTC] Qualytics Anomaly Status: Acknowledged\n(Qualytics anomaly 824, ref snowbot-00ff)"
    )


def test_comment_note_keeps_the_spec_line_and_names_its_author_in_the_trailer() -> None:
    created = datetime(2024, 1, 15, 12, 31, tzinfo=timezone(timedelta(hours=2))).isoformat()
    payload = {"anomaly_id": 9, "message": "  fixed upstream \n", "author": "Jane Doe", "created": created}
    assert notes.work_note("comment", payload, "snowbot-1") == (
        "[2024-01-15 10:31:00 UTC] Comment from Qualytics: fixed upstream\n"
        "(Qualytics anomaly 9, comment by Jane Doe, ref snowbot-1)"
    )


def test_a_comment_without_author_has_no_by_part() -> None:
    payload = {"anomaly_id": 9, "message": "hi", "author": "", "created": "2024-01-15T00:00:00+00:00"}
    assert notes.work_note("comment", payload, "snowbot-2") == (
        "[2024-01-15 00:00:00 UTC] Comment from Qualytics: hi\n(Qualytics anomaly 9, ref snowbot-2)"
    )
    assert notes.comment_line("hi", datetime(2024, 1, 15, tzinfo=UTC)) == (
        "[2024-01-15 00:00:00 UTC] Comment from Qualytics: hi"
    )


def test_resolution_notes_name_the_anomaly_and_its_final_status() -> None:
    assert notes.close_notes(824, "Duplicate") == "Qualytics anomaly 824 was archived as Duplicate."
