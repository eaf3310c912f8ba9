"""`view.state.values` as Slack sends it in a view submission or a block action. Pure; no I/O.

Source: Slack's "View state" reference (api.slack.com/reference/interaction-payloads/views) and the
`state.values` of bolt-python's tests/scenario_tests view_submission payloads: one entry per input block,
keyed by block_id then action_id, with `value` for text inputs, `selected_option` for selects and
`selected_options` for multi-selects; an input nobody touched carries its initial value or options.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEXT_INPUTS = ("plain_text_input", "url_text_input", "email_text_input", "number_input")


def option(value: str, label: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": label, "emoji": True}, "value": value}


def state_values(view: Mapping[str, Any], entered: Mapping[str, Any]) -> dict[str, Any]:
    """What the person `entered` (block_id -> text; an option value for a static select; (value, label) for
    an external select, a list of them for a multi one), else each input's initial value."""
    values: dict[str, Any] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        block_id = block["block_id"]
        values[block_id] = {element["action_id"]: _state(element, block_id in entered, entered.get(block_id))}
    return values


def _state(element: Mapping[str, Any], touched: bool, given: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind in TEXT_INPUTS:
        return {"type": kind, "value": given if touched else element.get("initial_value")}
    if kind == "static_select":
        chosen = element.get("initial_option")
        if touched:
            chosen = next((o for o in element.get("options", []) if o["value"] == given), None)
        return {"type": kind, "selected_option": chosen}
    if kind == "external_select":
        chosen = option(*given) if given is not None else element.get("initial_option")
        return {"type": kind, "selected_option": chosen}
    if kind == "conversations_select":  # Slack's view state: `selected_conversation` (Block Kit reference)
        return {
            "type": kind,
            "selected_conversation": given if touched else element.get("initial_conversation"),
        }
    if kind == "multi_static_select":
        options = element.get("initial_options", [])
        if touched:
            options = [o for o in element.get("options", []) if o["value"] in (given or [])]
        return {"type": kind, "selected_options": options}
    if kind == "multi_external_select":
        options = [option(*pair) for pair in given or []] if touched else element.get("initial_options", [])
        return {"type": kind, "selected_options": options}
    raise ValueError(f"the simulated user cannot fill a {kind} input")
