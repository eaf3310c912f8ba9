"""A modal as a payload carries it, read once (`ViewState`: its id and hash, its `ModalMetadata`, what the
person entered), and the view to send back when updating it (`views.update` accepts no id, hash or state):
one block replaced, or the whole form refilled with an error on top. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.slack.blocks.metadata import ModalMetadata
from bot.slack.blocks.primitives import MAX_VIEW_BLOCKS, Block, View, escape, section
from bot.slack.ids import BlockId

Values = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class ViewState:
    """A modal from a `view_submission` or a `block_actions` payload, parsed once by the listener."""

    view: Mapping[str, Any] = field(repr=False)
    id: str
    hash: str | None
    metadata: ModalMetadata
    values: Values = field(repr=False)

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> ViewState:
        return cls(
            view=view,
            id=str(view.get("id") or ""),
            hash=view.get("hash") or None,
            metadata=ModalMetadata.decode(view.get("private_metadata")),
            values=view.get("state", {}).get("values", {}) or {},
        )

    def entry(self, block_id: str, action_id: str) -> Mapping[str, Any]:
        return self.values.get(block_id, {}).get(action_id, {}) or {}

    def text(self, block_id: str, action_id: str) -> str | None:
        """A text input's value, or a select's chosen value (the same fields may be either)."""
        found = self.entry(block_id, action_id)
        option = found.get("selected_option")
        if isinstance(option, Mapping):
            return option.get("value")
        value = found.get("value")
        return value if isinstance(value, str) else None

    def selected(self, block_id: str, action_id: str) -> list[tuple[str, str]]:
        """A multi-select's chosen options as (value, label)."""
        options = self.entry(block_id, action_id).get("selected_options") or []
        return [(o["value"], o.get("text", {}).get("text", o["value"])) for o in options if o.get("value")]

    def has_input(self, block_id: str) -> bool:
        """Whether the modal has an input block `block_id` (where a field error can be shown)."""
        return any(
            block.get("block_id") == block_id and block.get("type") == "input"
            for block in self.view.get("blocks", [])
        )


_VIEW_KEYS = ("type", "callback_id", "title", "close", "submit", "blocks", "private_metadata", "external_id")


def view_for_update(view: Mapping[str, Any], *, blocks: Sequence[Block] | None = None) -> View:
    """The part of a view from a payload that views.update accepts (no id, hash, state, app ids),
    optionally with new blocks."""
    clean: View = {key: view[key] for key in _VIEW_KEYS if key in view and view[key] not in (None, "")}
    if blocks is not None:
        clean["blocks"] = list(blocks)
    return clean


def replace_block(view: Mapping[str, Any], block: Block) -> View:
    """The view with the block that has `block`'s block_id replaced by it (views.update keeps what the
    person typed in the other inputs, their block and action ids being unchanged)."""
    block_id = block.get("block_id")
    blocks = [block if old.get("block_id") == block_id else old for old in view.get("blocks", [])]
    return view_for_update(view, blocks=blocks)


def _selected(element: Mapping[str, Any], value: Mapping[str, Any]) -> dict[str, Any]:
    """Set an input element's initial value from its `view.state.values` entry."""
    refilled = {
        k: v for k, v in element.items() if k not in ("initial_value", "initial_option", "initial_options")
    }
    kind = value.get("type") or element.get("type")
    if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input"):
        if value.get("value"):
            refilled["initial_value"] = value["value"]
    elif kind in ("static_select", "external_select"):
        if value.get("selected_option"):
            refilled["initial_option"] = value["selected_option"]
    elif kind in ("multi_static_select", "multi_external_select"):
        if value.get("selected_options"):
            refilled["initial_options"] = value["selected_options"]
    return refilled


def refilled_modal(view: Mapping[str, Any], error: str) -> View:
    """A submitted modal again, with what the person entered and an error at the top, so they can fix it
    and submit again (after `ack(response_action="update")` replaced it with a progress view). A password
    is never put back."""
    values: Mapping[str, Any] = view.get("state", {}).get("values", {})
    blocks: list[Block] = [section(f":warning: {escape(error)}", block_id=BlockId.ERROR)]
    for block in view.get("blocks", []):
        block_id = block.get("block_id")
        if block_id == BlockId.ERROR:
            continue
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            element = block["element"]
            entry = (
                {}
                if block_id == BlockId.PASSWORD
                else values.get(block_id, {}).get(element.get("action_id"), {})
            )
            block = {**block, "element": _selected(element, entry)}
        blocks.append(block)
    return view_for_update(view, blocks=blocks[:MAX_VIEW_BLOCKS])
