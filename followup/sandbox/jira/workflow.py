"""The one workflow every sandbox project uses: To Do -> In Progress -> Done.

Pure data and lookups, no I/O. Every status can reach every other one (as in Jira's
simplified workflows), but transitions are named after the action, the way classic
workflows name them, so a client that picks a transition by name rather than by the
status category it leads to will notice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StatusCategory:
    id: int
    key: str  # new | indeterminate | done
    name: str
    color_name: str


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    name: str
    category: StatusCategory


@dataclass(frozen=True, slots=True)
class Transition:
    id: str
    name: str
    to: Status


@dataclass(frozen=True, slots=True)
class Resolution:
    id: str
    name: str
    description: str


NEW = StatusCategory(2, "new", "To Do", "blue-gray")
INDETERMINATE = StatusCategory(4, "indeterminate", "In Progress", "yellow")
DONE_CATEGORY = StatusCategory(3, "done", "Done", "green")

TO_DO = Status("10000", "To Do", NEW)
IN_PROGRESS = Status("3", "In Progress", INDETERMINATE)
DONE = Status("10001", "Done", DONE_CATEGORY)

STATUSES: tuple[Status, ...] = (TO_DO, IN_PROGRESS, DONE)
INITIAL = TO_DO

RESOLUTIONS: tuple[Resolution, ...] = (
    Resolution("10000", "Done", "Work has been completed on this issue."),
    Resolution("10001", "Won't Do", "This issue won't be actioned."),
    Resolution("10002", "Duplicate", "The problem is a duplicate of an existing issue."),
    Resolution("10003", "Cannot Reproduce", "This issue couldn't be reproduced."),
)
DEFAULT_RESOLUTION = RESOLUTIONS[0]

_TRANSITION_IDS = {TO_DO.name: "11", IN_PROGRESS.name: "21", DONE.name: "31"}


def status_named(name: str) -> Status | None:
    for status in STATUSES:
        if status.name.lower() == name.lower():
            return status
    return None


def resolution_named(name: str) -> Resolution | None:
    for resolution in RESOLUTIONS:
        if resolution.name.lower() == name.lower():
            return resolution
    return None


def resolution_by_id(resolution_id: str) -> Resolution | None:
    for resolution in RESOLUTIONS:
        if resolution.id == resolution_id:
            return resolution
    return None


def _transition_name(current: Status, target: Status) -> str:
    if target is IN_PROGRESS:
        return "Start Progress" if current is TO_DO else "In Progress"
    if target is TO_DO:
        return "Reopen" if current is DONE else "Stop Progress"
    return "Done"


def transitions_from(current: Status) -> tuple[Transition, ...]:
    """The transitions available from `current`: one to each other status."""
    return tuple(
        Transition(_TRANSITION_IDS[target.name], _transition_name(current, target), target)
        for target in STATUSES
        if target is not current
    )


def transition_by_id(current: Status, transition_id: str) -> Transition | None:
    for transition in transitions_from(current):
        if transition.id == transition_id:
            return transition
    return None
