"""The `snowbot demo` package: the story a data-quality team lives, played on local emulators of ServiceNow, Qualytics
and Slack, through the bot's real endpoints.

The three emulators run on loopback ports (`emulators.serve.serve_in_thread`); the bot is the real app
(`bot.app.build_app` with the Slack and sync extensions, its lifespan running) served by uvicorn on a
loopback port in this event loop, so the story can wait for the bot's own work deterministically: the
Slack surface's task tracker after each Slack request, and `SyncEngine.run_pass()` for a sync pass. The
story plays Slack's part with signed requests (`POST /slack/events`: form-encoded slash commands,
`payload=` JSON for interactions) and a Qualytics user's part through the Qualytics API; it reads what
the bot did from the Slack emulator's Web API log and from ServiceNow through `ServiceNowClient`.

    1. Qualytics posts its alert for anomaly 824 in #dq-alerts
    2. "Create ServiceNow ticket" on the alert opens the form, prefilled
    3. the form is submitted: the incident is created and linked, the alert's thread says so
    4. the anomaly is acknowledged and commented in Qualytics; a sync pass writes the work notes
    5. `/snow search` finds an older incident and `/snow link` links it too
    6. the anomaly is archived in Qualytics; a sync pass resolves both incidents
    7. `/snow tickets 824` shows both Resolved
    8. the incident as ServiceNow holds it

Everything is throwaway: a temporary directory for the database (removed at the end unless
`--keep-running`), settings built here (never from the environment or `.env`), random secrets. A failed
step prints which one and why and makes the exit code 1; `snowbot demo --debug` adds the traceback.

Its parts: `demo.world` starts the emulators and the bot, `demo.story` plays the eight steps, `demo.run`
is the command (`snowbot demo [--keep-running] [--debug]`). Nothing in `bot/` or the domain packages
imports this package (tests/test_layering.py checks).
"""

from demo.run import keep_running_help, run_demo
from demo.story import COMMENT, StepFailed, Story, play_story
from demo.world import (
    ANOMALY_ID,
    QUALYTICS_PERSON,
    READY,
    SERVICENOW_LOGIN,
    DemoWorld,
    demo_settings,
    demo_world,
)

__all__ = [
    "ANOMALY_ID",
    "COMMENT",
    "QUALYTICS_PERSON",
    "READY",
    "SERVICENOW_LOGIN",
    "DemoWorld",
    "StepFailed",
    "Story",
    "demo_settings",
    "demo_world",
    "keep_running_help",
    "play_story",
    "run_demo",
]
