"""The three-way merge of one field: the page value P, the Jira value J and the base
B (the last-synced value) decide which way it flows (DESIGN.md section 3), and why,
in words. Pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from followup.core.policy import Direction

__all__ = ["Merge", "decision", "jira_led", "merge_field"]


@dataclass(frozen=True, slots=True)
class Merge:
    """The outcome for one field: what Jira and the page should hold afterwards."""

    to_jira: bool
    to_page: bool
    value: Any
    conflict: bool


def merge_field(p: Any, j: Any, b: Any, direction: Direction, winner: str, has_base: bool) -> Merge:
    if direction == "off" or p == j:
        return Merge(False, False, j if direction == "off" else p, False)
    push = direction in ("both", "page_to_jira")
    pull = direction in ("both", "jira_to_page")
    if not has_base:
        # A ticket with no sync history (adopted): Jira is the record where it has a
        # value; the page fills Jira's blanks where it may lead, and where it may not,
        # keeps its own value (a blank in Jira never erases what the page states).
        if j is None and push:
            return Merge(True, False, p, False)
        if pull and j is not None:
            return Merge(False, True, j, False)
        return Merge(False, False, j, False)
    p_changed, j_changed = p != b, j != b
    if p_changed and not j_changed:
        return Merge(push, False, p if push else j, False)
    if j_changed and not p_changed:
        return Merge(False, pull, j if pull else p, False)
    # Both moved, to different values. Where the winner's value cannot flow (the
    # direction forbids it), each side keeps its own and the base follows the side
    # that is allowed to lead, so the next run does not undo the other side's edit.
    if winner == "jira":
        return Merge(False, pull, j if pull else p, True)
    return Merge(push, False, p if push else j, True)


def decision(
    what: str,
    p: Any,
    j: Any,
    b: Any,
    direction: Direction,
    m: Merge,
    show: Callable[[Any], str],
    has_base: bool = True,
    *,
    held: bool = False,
) -> str:
    """Why a field was synced (or not), in words, from the merge's inputs and outcome.
    `held`: the page's value would have gone to Jira, but Jira leads the ticket."""
    if direction == "off":
        return f"not synced (sync.directions.{what} = off)"
    if p == j:
        return f"in step: {show(p)} on both sides"
    if held:
        return (
            f"the page says {show(p)}, but followup did not create this ticket: Jira leads "
            f'it (sync.adopted_tickets = "jira-leads") and keeps {show(j)}'
        )
    if not has_base:
        if m.to_jira:
            return f"adopted ticket without one: the page's {show(p)} goes to Jira"
        if m.to_page:
            return f"adopted ticket: Jira's {show(j)} is shown on the page"
        return f"adopted ticket: Jira keeps {show(j)}"
    if m.conflict:
        return (
            f"changed on both sides since the last sync (page: {show(p)}, Jira: {show(j)}, "
            f"last synced: {show(b)}): conflict, kept {show(m.value)}"
        )
    if m.to_jira:
        return f"changed on the page ({show(b)} → {show(p)}): sent to Jira"
    if m.to_page:
        return f"changed in Jira ({show(b)} → {show(j)}): shown on the page"
    if p != b and j == b:
        return f"changed on the page to {show(p)}, but it flows {direction}: Jira keeps {show(j)}"
    if j != b and p == b:
        return f"changed in Jira to {show(j)}, but it flows {direction}: the page keeps {show(p)}"
    return f"page {show(p)}, Jira {show(j)}: left as they are ({direction})"


def jira_led(direction: Direction) -> Direction:
    """`direction` without its page -> Jira half."""
    if direction == "both":
        return "jira_to_page"
    if direction == "page_to_jira":
        return "off"
    return direction
