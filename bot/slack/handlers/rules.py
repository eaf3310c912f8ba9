"""Creation rules from Slack: `/snow rules` (list; `add` opens the modal; `dry-run <id> [N]`; `enable
<id>` shows the dry run with an Enable button, so a rule is never enabled unseen; `disable <id>`), the
modal's submission and the Enable button. Adding, enabling and disabling are for admins (a rule makes
tickets by itself)."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, rule_forms
from bot.slack.blocks import ViewState, add_rule_modal, dry_run_message, rules_message
from bot.slack.handlers.common import Deps, Invocation, Subcommands, actor, admin_refusal, open_modal
from bot.slack.handlers.routes import Route
from bot.slack.ids import ActionId, Subcommand, ViewId
from bot.usecases import InvalidInput

USAGE = "/snow rules [add | dry-run <id> [N] | enable <id> | disable <id>]"
ADMIN_ONLY = ("add", "enable", "disable")


def rule_id_arg(args: list[str]) -> int:
    if len(args) < 2 or not args[1].isdigit():
        raise InvalidInput(f"Name the rule by its id. Usage: {USAGE}")
    return int(args[1])


async def snow_rules(deps: Deps, call: Invocation) -> None:
    what = call.args[0].lower() if call.args else "list"
    if what in ADMIN_ONLY:
        refusal = await admin_refusal(deps, call.client, call.command.get("user_id", ""))
        if refusal is not None:
            await call.reply(
                blocks.error_message(
                    refusal.replace("connect snowbot to ServiceNow", "manage creation rules")
                )
            )
            return
    if what == "list":
        await call.reply(rules_message(await deps.snowbot.list_rules()))
    elif what == "add":
        await open_modal(call.client, call.context, call.command["trigger_id"], add_rule_modal(call.channel))
    elif what in ("dry-run", "dryrun", "enable"):
        last = int(call.args[2]) if len(call.args) > 2 and call.args[2].isdigit() else 50
        run = await deps.snowbot.rule_dry_run(rule_id_arg(call.args), last=min(last, 200))
        await call.reply(dry_run_message(run.rule, run.looked_at, run.items, offer_enable=what == "enable"))
    elif what == "disable":
        rule = await deps.snowbot.set_rule_enabled(rule_id_arg(call.args), False, actor(call.command))
        await call.reply(rules_message([rule]))
    else:
        await call.reply(blocks.error_message(f"Usage: {USAGE}"))


async def on_rule_enable(
    deps: Deps,
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    respond: AsyncRespond,
    client: AsyncWebClient,
) -> None:
    """The Enable button under a dry run."""
    await ack()
    refusal = await admin_refusal(deps, client, body["user"]["id"])
    if refusal is not None:
        await respond(response_type="ephemeral", replace_original=False, **blocks.error_message(refusal))
        return
    rule = await deps.snowbot.set_rule_enabled(int(action.get("value") or 0), True, actor(body["user"]))
    await respond(replace_original=True, **rules_message([rule]))


async def on_rule_add_submit(
    deps: Deps, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
) -> None:
    """The add-rule modal: checked first (an error goes back on its field), then saved disabled."""
    form = ViewState.of(view)
    try:
        spec = rule_forms.rule_spec(form)
    except InvalidInput as err:
        block = rule_forms.block_for(err)
        await ack(response_action="errors", errors={block or "rule_name": err.message})
        return
    await ack()
    rule = await deps.snowbot.create_rule(spec, actor(body["user"]))
    if spec.channel_id:
        note = f"Creation rule {rule.id} ({rule.name}) saved, disabled: `/snow rules enable {rule.id}` shows its dry run, then enables it."
        await client.chat_postEphemeral(channel=spec.channel_id, user=body["user"]["id"], text=note)


SUBCOMMANDS: Subcommands = {Subcommand.RULES: snow_rules}
ROUTES = (
    Route("action", ActionId.RULE_ENABLE, on_rule_enable),
    Route("view", ViewId.RULE_ADD, on_rule_add_submit),
)
