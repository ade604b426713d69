"""Reminders and escalation: which tickets get a nudge today, as plan actions.

    add_reminders(plan, page, tickets, linked=..., today=..., policy=..., deployment=...)
        -> PagePlan with COMMENT (+ UPDATE labels) + one SET_PROPERTY per reminded ticket

Purely computational, like the planner: no I/O, no clock. The run's date and the
ticket's reminder bookkeeping (the `reminders` entry of its `followup` property)
decide everything, so runs stay stateless and a dry run lists exactly the comments
apply would post.

Rules (docs/reporting.md has the table):

- a ticket that is not done and due within `before_due_days` gets one "due soon"
  comment for that due date;
- an overdue ticket gets a comment on its first overdue day, then every
  `overdue_every_days` days while it stays overdue;
- after `escalate_after` overdue reminders, each further one is an escalation: it
  mentions the configured lead (`escalate_to`) as well and adds `escalate_label`;
- a ticket nobody owns is not skipped: its reminders mention the postmortem's author
  (else the lead) and it gets the label at once;
- a new due date is a new commitment: the bookkeeping starts again for it.

A ticket created in this run gets no reminder until the next run (its assignee has
just been notified by Jira). The planner already writes the `followup` property of a
ticket whose sync base changed; a reminder replaces that action with one that carries
both the new base and the new bookkeeping, placed after the comment: one property
write per ticket per run. A comment that fails is a failed action in the report (and
exit code 1); the bookkeeping written after it still counts it, so the next reminder
comes at the next cadence rather than on every run.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from followup.core.identity import match_tickets
from followup.core.model import ActionItem, Page, Ticket, TicketProperty
from followup.core.plan import Action, Comment, Op, PagePlan, PropertyWrite, payload
from followup.core.policy import ReminderPolicy, Scope
from followup.ports import Deployment, FieldUpdate

__all__ = [
    "Decision",
    "Kind",
    "ReminderPolicy",
    "ReminderState",
    "add_reminders",
    "decide",
    "mention",
]


class Kind(enum.StrEnum):
    DUE_SOON = "due-soon"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


@dataclass(frozen=True, slots=True)
class ReminderState:
    """The bookkeeping kept in the ticket's `followup` property, under `reminders`.

    `due` is the due date it is about; `count` the overdue reminders sent for it;
    `soon` whether the due-soon reminder was sent; `last` the day of the last one.
    """

    due: date | None = None
    last: date | None = None
    count: int = 0
    soon: bool = False
    escalated: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReminderState:
        def day(value: Any) -> date | None:
            try:
                return date.fromisoformat(str(value)) if value else None
            except ValueError:
                return None

        count = data.get("count", 0)
        return cls(
            due=day(data.get("due")),
            last=day(data.get("last")),
            count=count if isinstance(count, int) and count >= 0 else 0,
            soon=bool(data.get("soon", False)),
            escalated=bool(data.get("escalated", False)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "due": self.due.isoformat() if self.due else None,
            "last": self.last.isoformat() if self.last else None,
            "count": self.count,
            "soon": self.soon,
            "escalated": self.escalated,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """A reminder to send today: its kind, the bookkeeping after it, and `days`
    (until the due date for due-soon, past it otherwise)."""

    kind: Kind
    state: ReminderState
    days: int


def decide(
    state: ReminderState, *, due: date | None, done: bool, today: date, policy: ReminderPolicy
) -> Decision | None:
    """The reminder a ticket gets today, or None. The whole cadence is here."""
    if not policy.enabled or done or due is None:
        return None
    if state.due != due:
        state = ReminderState(due=due, last=state.last)
    days = (due - today).days
    if days < 0:
        cadence_due = (
            state.count == 0
            or state.last is None
            or (today - state.last).days >= policy.overdue_every_days
        )
        if not cadence_due:
            return None
        escalate = state.count >= policy.escalate_after
        kind = Kind.ESCALATION if escalate else Kind.OVERDUE
        after = replace(
            state, last=today, count=state.count + 1, escalated=state.escalated or escalate
        )
        return Decision(kind, after, -days)
    if days <= policy.before_due_days and not state.soon:
        return Decision(Kind.DUE_SOON, replace(state, last=today, soon=True), days)
    return None


def mention(user_id: str, deployment: Deployment) -> str:
    """A user mention in a Jira comment (wiki markup, as the v2 API takes it)."""
    return f"[~accountid:{user_id}]" if deployment == "cloud" else f"[~{user_id}]"


def _effective(t: Ticket, actions: Sequence[Action]) -> tuple[bool, date | None, str | None]:
    """The ticket's done-ness, due date and assignee once this run's plan is applied."""
    done, due, assignee = t.done, t.due, t.assignee
    for a in actions:
        if a.op is Op.TRANSITION:
            done = a.after == "done"
        elif a.op is Op.UPDATE and a.field == "duedate":
            due = a.after
        elif a.op is Op.UPDATE and a.field == "assignee":
            assignee = a.after
    return done, due, assignee


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _comment(
    decision: Decision,
    *,
    page: Page,
    due: date,
    assignee: str | None,
    fallback: str | None,
    policy: ReminderPolicy,
    deployment: Deployment,
) -> tuple[str, str, list[str]]:
    """(comment body, reason for the report, the mentions it makes)."""
    where = f"the postmortem “{page.title}”"
    link = f" {page.url}" if page.url else ""
    lead = policy.escalate_to
    if decision.kind is Kind.DUE_SOON:
        when = "today" if decision.days == 0 else f"in {_plural(decision.days, 'day')}"
        state = f"is due on {due.isoformat()} ({when})"
        reason = f"due {when}"
    else:
        state = f"was due on {due.isoformat()} and is {_plural(decision.days, 'day')} overdue"
        reason = f"{_plural(decision.days, 'day')} overdue, reminder {decision.state.count}"
    escalating = decision.kind is Kind.ESCALATION
    if assignee is not None:
        to = [mention(assignee, deployment)]
        if escalating and lead and lead != assignee:
            to.insert(0, mention(lead, deployment))
            reason += "; escalated to the lead"
        text = (
            f"{' '.join(to)} Reminder: this action item from {where} {state}."
            + (
                f" It has had {_plural(decision.state.count - 1, 'reminder')} already."
                if escalating
                else ""
            )
            + " Please finish it, or agree a new due date and change it here or on the"
            f" postmortem page.{link}"
        )
        return text, reason, to
    who = [mention(u, deployment) for u in dict.fromkeys(x for x in (fallback, lead) if x)]
    if not escalating and len(who) > 1:
        who = who[:1]  # the author first; the lead joins once it escalates
    reason += "; no owner: " + (
        "to the postmortem's author" if fallback else "to the lead" if lead else "nobody to mention"
    )
    text = (
        f"{' '.join(who)} This action item from {where} has no owner and {state}."
        " Please find it an owner: assign this ticket, or mention the owner next to the"
        f" item on the postmortem page.{link}"
    ).lstrip()
    return text, reason, who


def add_reminders(
    plan: PagePlan,
    page: Page,
    tickets: Sequence[Ticket],
    *,
    linked: Mapping[str, Ticket],
    today: date,
    policy: ReminderPolicy,
    deployment: Deployment,
    scope: Scope | None = None,
) -> PagePlan:
    """`plan` with today's reminders added (unchanged when reminders are off).

    `tickets` and `linked` are what the page was planned with; items are matched to
    tickets by the planner's own rules. With `scope`, tickets outside it, and items
    referencing a ticket outside it, get no reminder."""
    if not policy.enabled or not plan.items:
        return plan
    items = plan.items
    if scope is not None:
        tickets = [t for t in tickets if scope.outside(t.key) is None]
        items = tuple(i for i in items if not (i.ticket and scope.outside(i.ticket, i.ticket_site)))
    matched, _, _, _ = match_tickets(items, tickets, linked)
    actions = list(plan.actions)
    added: list[Action] = []
    for item in items:
        t = matched.get(item.key)
        if t is None:
            continue
        mine = [a for a in actions if a.ticket == t.key]
        prop_action = next((a for a in reversed(mine) if a.op is Op.SET_PROPERTY), None)
        prop = payload(prop_action, PropertyWrite).prop if prop_action else t.prop
        if prop is None or prop.page != page.id:
            continue  # not managed by followup (sync.adopt off)
        done, due, assignee = _effective(t, mine)
        state = ReminderState.from_json(prop.reminders)
        decision = decide(state, due=due, done=done, today=today, policy=policy)
        if decision is None or due is None:
            continue
        added.extend(
            _reminder_actions(
                item, t, prop, decision, page=page, due=due, assignee=assignee, policy=policy,
                deployment=deployment,
            )
        )  # fmt: skip
        if prop_action is not None:
            actions.remove(prop_action)
    if not added:
        return plan
    # Before the page write, so that the report reads in the order apply runs.
    at = next((i for i, a in enumerate(actions) if a.op is Op.WRITE_PAGE), len(actions))
    return replace(plan, actions=(*actions[:at], *added, *actions[at:]))


def _reminder_actions(
    item: ActionItem,
    t: Ticket,
    prop: TicketProperty,
    decision: Decision,
    *,
    page: Page,
    due: date,
    assignee: str | None,
    policy: ReminderPolicy,
    deployment: Deployment,
) -> list[Action]:
    body, reason, mentioned = _comment(
        decision,
        page=page,
        due=due,
        assignee=assignee,
        fallback=page.author,
        policy=policy,
        deployment=deployment,
    )
    out = [
        Action(
            Op.COMMENT,
            page.id,
            item.key,
            t.key,
            "reminder",
            None,
            f"{decision.kind}: {' '.join(mentioned) or 'nobody to mention'}",
            reason,
            data=Comment(body),
        )
    ]
    label = policy.escalate_label
    if label and (decision.kind is Kind.ESCALATION or assignee is None) and label not in t.labels:
        out.append(
            Action(
                Op.UPDATE,
                page.id,
                item.key,
                t.key,
                "labels",
                sorted(t.labels),
                sorted({*t.labels, label}),
                "escalated" if assignee else "nobody owns it",
                data=FieldUpdate(add_labels=(label,)),
            )
        )
    reminders = {**prop.reminders, **decision.state.to_json()}
    out.append(
        Action(
            Op.SET_PROPERTY,
            page.id,
            item.key,
            t.key,
            None,
            None,
            {"reminders": decision.state.to_json()},
            "record the reminder" + ("" if prop == t.prop else " and the synced values"),
            data=PropertyWrite(replace(prop, reminders=reminders), read=t.prop),
        )
    )
    return out
