"""`snowbot demo`: start the world, play the story, print the outcome; with `--keep-running`, stay up and
print every URL and ready commands. Everything is throwaway: a temporary directory for the database
(removed at the end unless `--keep-running`). A failed step prints which one and why and makes the exit
code 1; `--debug` adds the traceback."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import TextIO

from bot.logs import configure_logging
from demo.story import play_story, reason
from demo.world import ANOMALY_ID, QUALYTICS_PERSON, READY, SERVICENOW_LOGIN, DemoWorld, demo_world
from storage import links

JSON = "Content-Type: application/json"


def _quiet_logging() -> None:
    """Warnings only, so the story reads cleanly."""
    configure_logging(level="WARNING")


def keep_running_help(world: DemoWorld) -> str:
    """What stays up, every URL answering a GET (the Slack endpoint is POST only, as Slack sends), the
    tokens, and ready commands: a Qualytics person's acknowledge and comment, then the sync's work notes."""
    token = world.api_token
    assert world.settings.webhook_secret is not None
    secret = world.settings.webhook_secret.get_secret_value()
    person = f"Authorization: Bearer {world.person_token}"
    comment = json.dumps({"anomaly_id": ANOMALY_ID, "message": "Checked again by hand."})
    db = world.process.snowbot.db
    return "\n".join(
        [
            "",
            "Up:",
            f"  REST API docs        {world.bot_url}/api/docs",
            f"  Slack endpoint       {world.bot_url}/slack/events  (POST only, signed as Slack signs)",
            f"  ServiceNow emulator  {world.servicenow_url}/  (login {SERVICENOW_LOGIN})",
            f"  Qualytics emulator   {world.qualytics_url}/api",
            f"  anomaly {ANOMALY_ID}          {world.qualytics_url}/datastores/23/anomalies?id={ANOMALY_ID}",
            f"  Slack emulator       {world.slack_url}/api/",
            f"  API token            {token}",
            f"  Qualytics token      {world.person_token}  ({QUALYTICS_PERSON[0]}, for the commands below)",
            f"  database             {world.settings.db_path}  (kept after Ctrl-C)",
            f"  sync                 every {world.settings.sync_interval} s, or at once through the webhook",
            "",
            "Try:",
            f'  curl -H "Authorization: Bearer {token}" {world.bot_url}/api/anomalies/{ANOMALY_ID}/ticket-links',
            f"  # as {QUALYTICS_PERSON[0]}: restore anomaly {ANOMALY_ID} (the story archived it), acknowledge it, comment",
            *(
                f"  curl -X PUT -H '{person}' -H '{JSON}' -d '{{\"status\": \"{status}\"}}' "
                f"{world.qualytics_url}/api/anomalies/{ANOMALY_ID}"
                for status in ("Active", "Acknowledged")
            ),
            f"  curl -X POST -H '{person}' -H '{JSON}' -d '{comment}' {world.qualytics_url}/api/comments",
            "  # sync now (or wait for the next pass), then read the work notes in ServiceNow",
            f"  curl -X POST -H 'x-qualytics-secret: {secret}' -H '{JSON}' -d '{{\"anomaly_id\": {ANOMALY_ID}}}' "
            f"{world.bot_url}/webhooks/qualytics",
            *(f"  {link.ticket_number}           {link.url}" for link in links.for_anomaly(db, ANOMALY_ID)),
            "",
            READY,
        ]
    )


async def run_demo(keep_running: bool = False, *, out: TextIO | None = None, debug: bool = False) -> int:
    """`snowbot demo`: start everything, play the story, print the outcome; 0 when it all went as told.

    With `keep_running` everything stays up after the story until Ctrl-C (asyncio.run cancels this
    task), the sync runs every minute, and the temporary directory with the database is kept."""
    out = out or sys.stdout
    _quiet_logging()
    directory = Path(tempfile.mkdtemp(prefix="snowbot-demo-"))
    try:
        started = time.monotonic()
        async with demo_world(directory, sync_interval=60 if keep_running else 3600) as world:
            print(
                "snowbot demo: the ServiceNow, Qualytics and Slack emulators and the bot are up on 127.0.0.1 "
                f"({time.monotonic() - started:.1f} s)\n",
                file=out,
                flush=True,
            )
            code = await play_story(world, out, debug=debug)
            if keep_running:
                print(keep_running_help(world), file=out, flush=True)
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()  # stopping is the answer to Ctrl-C: shut down cleanly below
                    print("\nStopping.", file=out, flush=True)
            return code
    except Exception as err:
        print(f"✗ the demo failed outside the story: {reason(err)}", file=out, flush=True)
        if debug:
            traceback.print_exc(file=out)
        return 1
    finally:
        if not keep_running:
            shutil.rmtree(directory, ignore_errors=True)
