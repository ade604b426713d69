"""One sync run: discover, extract, load tickets, plan, apply, write back.

    discover pages -> extract items -> load tickets -> plan -> apply -> write back

The engine talks to Jira and Confluence only through the ports; every decision is
the planner's. Apply carries out a plan in a fixed order: leases, creates (in bulk,
across pages), then per page (in a bounded worker pool) links, field updates,
transitions, properties, comments, and last the page write. A page write that meets
a newer version (409) re-reads, re-extracts, re-plans and re-renders the page, a
bounded number of times, so a person's concurrent edit is never lost.

Creates are the one non-idempotent write: they are never retried blindly. After an
ambiguous failure the page's tickets are searched again and only what is still
missing is created.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import structlog

from followup.core.identity import group_tickets_by_page, owners_to_resolve
from followup.core.model import (
    ActionItem,
    Extraction,
    Finding,
    FindingCode,
    Page,
    Ticket,
    TicketProperty,
)
from followup.core.plan import (
    Action,
    Comment,
    DescriptionEdit,
    IssueLink,
    Op,
    PagePlan,
    PageWrite,
    PropertyWrite,
    RemoteLink,
    Transition,
    edit_description,
    payload,
)
from followup.core.planner import plan_page
from followup.core.policy import EngineConfig, Policy
from followup.core.queries import check_page_id, managed_tickets_jql, postmortem_cql
from followup.core.reminders import add_reminders
from followup.core.storage_format import extract_page, render
from followup.errors import ApiError, FollowupError
from followup.ports import ConfluencePort, CreateResult, FieldUpdate, JiraPort, NewTicket
from followup.sync import leases, resend, watermark
from followup.sync.filters import check_filters
from followup.sync.owners import OwnerResolver
from followup.sync.pagewrite import write_page
from followup.sync.state import RunState

log = structlog.get_logger("followup.sync.engine")

CREATE_CHUNK = 50
CREATE_ATTEMPTS = 3  # sends of one bulk create, each after searching for what landed
SEARCH_PAGE_BATCH = 50
SEARCH_RESULTS_PAGE = 100  # issues a ticket search returns per request
FETCH_PAGE_BATCH = 100  # pages read by id in one search (an incremental run)
# Pages extracted, planned and applied at a time: what a run holds of the site.
BATCH_PAGES = 100
_T = TypeVar("_T")


@dataclass(slots=True)
class Outcome:
    """What became of one action."""

    action: Action
    ok: bool
    error: str | None = None
    ticket: str | None = None
    skipped: bool = False  # not attempted because an action it depends on failed

    def to_json(self) -> dict[str, Any]:
        data = self.action.to_json()
        if self.ticket and not data.get("ticket"):
            data["ticket"] = self.ticket
        data["outcome"] = "ok" if self.ok else ("skipped" if self.skipped else "failed")
        if self.error:
            data["error"] = self.error
        return data


@dataclass(slots=True)
class PageResult:
    page: Page
    plan: PagePlan
    outcomes: list[Outcome] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    skipped: bool = False
    leased_by: str | None = None  # skipped: another run holds the page's lease


@dataclass(slots=True)
class RunResult:
    run_id: str
    today: date
    dry_run: bool
    pages: list[PageResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: datetime | None = None
    finished: datetime | None = None
    kind: watermark.RunKind = "full"  # a full pass, or only what changed
    kind_reason: str = ""
    watermark_note: str | None = None  # why the watermark was not written

    @property
    def actions(self) -> list[Action]:
        return [a for p in self.pages for a in p.plan.actions]

    @property
    def findings(self) -> list[Finding]:
        return [f for p in self.pages for f in (*p.plan.findings, *p.findings)]

    @property
    def failures(self) -> list[Outcome]:
        return [o for p in self.pages for o in p.outcomes if not o.ok and not o.skipped]

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.failures or any(p.error for p in self.pages))

    @property
    def items(self) -> list[ActionItem]:
        return [i for p in self.pages for i in p.plan.items]

    def counts(self) -> dict[str, int]:
        ops = [a.op for a in self.actions]
        return {
            "pages": len(self.pages),
            "items": len(self.items),
            "create": ops.count(Op.CREATE),
            "adopt": ops.count(Op.ADOPT),
            "update": len({(a.ticket or a.item) for a in self.actions if a.op is Op.UPDATE}),
            "transition": ops.count(Op.TRANSITION),
            "page_writes": ops.count(Op.WRITE_PAGE),
            "comment": ops.count(Op.COMMENT),
            "findings": len(self.findings),
            "errors": len(self.errors) + len(self.failures) + sum(1 for p in self.pages if p.error),
            "leased": sum(1 for p in self.pages if p.leased_by is not None),
        }

    @property
    def pending(self) -> bool:
        return bool(self.actions)


class Engine:
    """Runs syncs against a Jira and a Confluence port."""

    def __init__(
        self,
        jira: JiraPort,
        confluence: ConfluencePort,
        policy: Policy,
        config: EngineConfig,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        run_id: str | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] = time.sleep,
        pause: Callable[[float], bool] | None = None,
    ) -> None:
        self.jira = jira
        self.confluence = confluence
        self.policy = policy
        self.config = config
        self.clock = clock
        # Every wait of the run is paid from its retry budget (the adapters' RetryPolicy
        # .pause): False when the budget cannot pay it, and the wait is not made.
        self.pause = pause if pause is not None else _sleeping(sleep)
        self.owners = OwnerResolver(jira, confluence, project=policy.project, names=config.owners)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        # What a run learns as it goes and its workers share, and its worker pool: a
        # new one for each `run()` (and an idle one for reading outside a run).
        self.state = self._new_state()
        # Set (by `followup sync --watch` on SIGTERM) to stop between pages: the page
        # being written is finished, no other is started, the leases are released.
        self.stop = stop if stop is not None else threading.Event()

    def _new_state(self) -> RunState:
        return RunState(self.run_id, concurrency=self.config.concurrency)

    # -- reading ------------------------------------------------------------------

    def extract_page(self, page: Page) -> Extraction:
        return extract_page(
            page,
            max_bytes=self.config.max_page_bytes,
            date_order=self.config.date_order,
            vocabulary=self.config.vocabulary,
            max_items=self.config.max_items_per_page,
        )

    def _linked_tickets(
        self, extraction: Extraction, managed: Mapping[str, Ticket]
    ) -> dict[str, Ticket]:
        """Tickets written on the page that followup does not manage yet (hand-linked).
        A reference outside the configured projects or site is not even read: what
        that ticket holds must not reach the page (the planner reports it)."""
        out: dict[str, Ticket] = {}
        for item in extraction.items:
            key = item.ticket
            if key is None or key in managed:
                continue
            if self.policy.scope.outside(key, item.ticket_site) is not None:
                continue
            with self.state.lock:
                known = key in self.state.linked
            if not known:
                found = self.jira.get_ticket(key)
                with self.state.lock:
                    self.state.linked[key] = found
            ticket = self.state.linked.get(key)
            if ticket is not None:
                out[key] = ticket
        return out

    def _plan(
        self, page: Page, extraction: Extraction, tickets: Sequence[Ticket], today: date
    ) -> PagePlan:
        managed = {t.key: t for t in tickets}
        linked = self._linked_tickets(extraction, managed)
        owners = self.owners.resolve(
            owners_to_resolve(extraction, tickets, linked, self.policy.scope),
            # routing hook: owners must be assignable where the page's tickets go
            project=self.policy.route(page).project,
        )
        plan = plan_page(
            page,
            extraction,
            tickets,
            linked=linked,
            owners=owners,
            today=today,
            policy=self.policy,
        )
        # Reminders are planned too (comments + the property's bookkeeping), so a dry
        # run lists them and a re-plan after a 409 sees what was already sent.
        plan = add_reminders(
            plan,
            page,
            tickets,
            linked=linked,
            today=today,
            policy=self.config.reminders,
            deployment=self.policy.deployment,
            scope=self.policy.scope,
        )
        self._log_stories(plan)
        return plan

    def _log_stories(self, plan: PagePlan) -> None:
        """At debug level, per item: how its ticket was found, what was decided field
        by field, and each action planned (the planner returns this as data; it does
        not log)."""
        if not log.is_enabled_for(logging.DEBUG):
            return
        for story in plan.stories.values():
            log.debug(
                "item-matched",
                run_id=self.run_id,
                page_id=plan.page_id,
                item=story.item,
                jira_key=story.ticket,
                match=story.match,
                why=story.why,
            )
            for what, decision in story.notes:
                log.debug(
                    "item-decision",
                    run_id=self.run_id,
                    page_id=plan.page_id,
                    item=story.item,
                    jira_key=story.ticket,
                    field=what,
                    decision=decision,
                )
        for action in plan.actions:
            log.debug(
                "action-planned",
                run_id=self.run_id,
                page_id=plan.page_id,
                item=action.item,
                jira_key=action.ticket,
                action=str(action.op),
                field=action.field,
                reason=action.reason,
            )

    def plan_one_page(self, page: Page, today: date) -> tuple[Extraction, list[Ticket], PagePlan]:
        """One page read and planned as a sync plans it (its tickets searched fresh),
        writing nothing: what `followup explain` shows."""
        extraction = self.extract_page(page)
        tickets = self.page_tickets(page.id)
        return extraction, tickets, self._plan(page, extraction, tickets, today)

    def page_tickets(self, page_id: str) -> list[Ticket]:
        """The managed tickets of one page, searched fresh."""
        return self._search_pages([page_id])[page_id]

    def _search_pages(
        self, page_ids: Sequence[str], *, per_query: int = SEARCH_PAGE_BATCH
    ) -> dict[str, list[Ticket]]:
        """The managed tickets of these pages, fresh, in as few searches as possible
        (`per_query` pages a query, at most `SEARCH_PAGE_BATCH`)."""
        found: dict[str, list[Ticket]] = {pid: [] for pid in page_ids}
        per_query = max(1, min(per_query, SEARCH_PAGE_BATCH))
        for start in range(0, len(page_ids), per_query):
            batch = page_ids[start : start + per_query]
            jql = managed_tickets_jql(self.policy.label, page_ids=batch)
            grouped = group_tickets_by_page(self.jira.search_tickets(jql), self.policy.label)
            for pid in batch:
                found[pid] = grouped.get(pid, [])
        for pid in page_ids:
            self._add_unindexed(pid, found[pid])
        return found

    def _add_unindexed(self, page_id: str, tickets: list[Ticket]) -> None:
        """Add to a page's searched tickets those this run created that the search
        did not show (its index lagging), each read by key, which is never stale."""
        with self.state.lock:
            known = self.state.created_on.get(page_id, set()) | self.state.recent_on.get(
                page_id, set()
            )
            missing = sorted(known - {t.key for t in tickets})
        if not missing:
            return
        log.info("search-lag", run_id=self.run_id, page_id=page_id, tickets=missing)
        fetched = [t for key in missing if (t := self.jira.get_ticket(key)) is not None]
        tickets.extend(group_tickets_by_page(fetched, self.policy.label).get(page_id, []))

    def _internal(self, page: Page, exc: Exception) -> str:
        """An unexpected error on one page: logged with its traceback, reported on
        the page, and the run goes on with the others (and fails: exit 1)."""
        try:
            log.error(
                "page-failed", run_id=self.run_id, page_id=page.id, error=repr(exc), exc_info=exc
            )
        except Exception:  # rendering the traceback failed: the page's failure still counts
            log.error("page-failed", run_id=self.run_id, page_id=page.id, error=repr(exc))
        return f"internal error: {type(exc).__name__}: {exc}"

    # -- the run --------------------------------------------------------------------

    def run(
        self,
        *,
        today: date,
        dry_run: bool,
        spaces: Sequence[str] = (),
        page_ids: Sequence[str] = (),
        progress: Callable[[str, int, int], None] | None = None,
        full: bool = False,
    ) -> RunResult:
        """One run. A full pass reads every page and ticket; an incremental one (when
        the watermark allows, see `followup.sync.watermark`) only what changed since
        the last successful run. `full`: a full pass whatever the watermark says.

        Pages stream through extract, plan and apply `BATCH_PAGES` at a time (their
        tickets searched per batch), and a page's body is let go once it is written,
        so a run holds a batch, not the site. Bulk creates still go `CREATE_CHUNK`
        at a time across pages and batches: a page whose creates do not fill a
        request waits, leased, for the next batch. A run narrowed or restricted by
        spaces applies nothing until discovery has shown every filter matches."""
        self.state = self._new_state()
        with self.state.pool():
            return self._run(
                today=today,
                dry_run=dry_run,
                spaces=spaces,
                page_ids=page_ids,
                progress=progress,
                full=full,
            )

    def _run(
        self,
        *,
        today: date,
        dry_run: bool,
        spaces: Sequence[str],
        page_ids: Sequence[str],
        progress: Callable[[str, int, int], None] | None,
        full: bool,
    ) -> RunResult:
        result = RunResult(self.run_id, today, dry_run, started=self.clock())
        window = watermark.begin(
            self.confluence,
            self.jira,
            self.config.watermark,
            today=today,
            full=full,
            narrowed=bool(spaces or page_ids),
        )
        result.kind, result.kind_reason = window.kind, window.reason
        log.info("run-kind", run_id=self.run_id, kind=window.kind, reason=window.reason)
        configured_spaces = not spaces
        spaces = tuple(spaces) or self.config.spaces
        tickets_for: Callable[[Sequence[str]], Mapping[str, list[Ticket]]]
        source: Iterable[Page]
        if window.incremental:
            changed, by_page = self._read_changed(window, spaces)
            source, tickets_for = changed, lambda ids: by_page
            filtered = False
        else:
            cql = postmortem_cql(self.config.cql, spaces=spaces, page_ids=page_ids)
            log.info("discover", run_id=self.run_id, cql=cql)
            source, tickets_for = self.confluence.find_pages(cql), _TicketSearch(self).search
            # A space or page filter that found nothing is a typo, not "nothing to
            # do": known only once discovery is over, and before anything is written.
            filtered = bool(spaces or page_ids)
        batches = _Batches(self, result, today)
        try:
            for batch, tickets in self._with_tickets(_batched(source, BATCH_PAGES), tickets_for):
                if self.stop.is_set() and not dry_run:
                    break
                planned = self._plan_batch(batch, tickets, today)
                batches.add(planned)
                if progress:
                    progress("plan", len(result.pages), len(result.pages))
                if dry_run:
                    for pr, _ in planned:
                        _let_go(pr)
                elif filtered:
                    batches.hold(planned)
                else:
                    batches.apply(planned, final=False)
            if not window.incremental:
                check_filters(
                    self.confluence,
                    [p.page for p in result.pages],
                    spaces=spaces,
                    page_ids=page_ids,
                    configured_spaces=configured_spaces,
                )
                log.info("loaded", run_id=self.run_id, pages=len(result.pages))
            if not dry_run:
                for held in _batched(batches.take_held(), BATCH_PAGES):
                    batches.apply(held, final=False)
                batches.apply([], final=True)
        finally:
            batches.release_all()
        if not dry_run:
            self._commit(result, window, today)
        result.finished = self.clock()
        return result

    def _with_tickets(
        self,
        batches: Iterator[list[Page]],
        tickets_for: Callable[[Sequence[str]], Mapping[str, list[Ticket]]],
    ) -> Iterator[tuple[list[Page], Mapping[str, list[Ticket]]]]:
        """Each batch of pages with its tickets. Discovery and the ticket searches are
        sequential cursors but independent: the next batch's pages are read while
        this batch's tickets are searched, in the run's pool, so the reading costs
        about the longer of the two rather than their sum."""
        current = next(batches, None)
        while current is not None:
            searching = self.state.submit(partial(tickets_for, [p.id for p in current]))
            following = next(batches, None)
            yield current, searching.result()
            current = following

    def _plan_batch(
        self, pages: Sequence[Page], tickets: Mapping[str, list[Ticket]], today: date
    ) -> list[tuple[PageResult, Extraction | None]]:
        """Extract and plan a batch of pages, in the run's pool."""

        def plan_one(page: Page) -> tuple[PageResult, Extraction | None]:
            extraction = None
            try:
                extraction = self.extract_page(page)
                plan = self._plan(page, extraction, tickets.get(page.id, []), today)
                return PageResult(page, plan), extraction
            except FollowupError as exc:
                failed = PageResult(page, PagePlan(page.id, (), (), ()), error=exc.show())
            except Exception as exc:  # a bug on one page must not stop the others
                failed = PageResult(
                    page, PagePlan(page.id, (), (), ()), error=self._internal(page, exc)
                )
            return failed, extraction

        return list(self.state.map(plan_one, pages))

    def _read_changed(
        self, window: watermark.Window, spaces: Sequence[str]
    ) -> tuple[list[Page], dict[str, list[Ticket]]]:
        """An incremental run's reading: the pages modified and the tickets updated
        since the watermark (side by side), then the pages of those tickets and the
        pages the last run left unfinished (by id, within the configured CQL), then
        every ticket of all those pages (a page is planned with all its tickets)."""
        cql = postmortem_cql(self.config.cql, spaces=spaces, modified_since=window.pages_since)
        jql = managed_tickets_jql(self.policy.label, updated_since=window.tickets_since)
        log.info("discover", run_id=self.run_id, cql=cql, jql=jql)
        searching = self.state.submit(lambda: list(self.jira.search_tickets(jql)))
        pages = list(self.confluence.find_pages(cql))
        changed = searching.result()
        known = {p.id for p in pages}
        wanted = set(group_tickets_by_page(changed, self.policy.label)) | set(window.retry)
        more = sorted((pid for pid in wanted - known if _is_page_id(pid)), key=int)
        for start in range(0, len(more), FETCH_PAGE_BATCH):
            batch = more[start : start + FETCH_PAGE_BATCH]
            by_id = postmortem_cql(self.config.cql, spaces=spaces, page_ids=batch)
            pages.extend(p for p in self.confluence.find_pages(by_id) if p.id not in known)
            known.update(batch)
        by_page = self._search_pages([p.id for p in pages]) if pages else {}
        log.info(
            "loaded",
            run_id=self.run_id,
            pages=len(pages),
            tickets=sum(len(ts) for ts in by_page.values()),
            changed_tickets=len(changed),
        )
        return pages, by_page

    def _commit(self, result: RunResult, window: watermark.Window, today: date) -> None:
        """Write the watermark after a run that went through: the pages it could not
        finish (leased, failed) are named in it, for the next run to read again."""
        if result.dry_run or self.stop.is_set() or result.errors:
            return
        retry = [
            p.page.id
            for p in result.pages
            if p.error or p.skipped or any(not o.ok and not o.skipped for o in p.outcomes)
        ]
        note = watermark.commit(
            self.confluence,
            window,
            self.config.watermark,
            today=today,
            run_id=self.run_id,
            retry=retry,
        )
        if note is not None:
            result.watermark_note = note
            log.warning("watermark-not-written", run_id=self.run_id, reason=note)

    # -- apply ----------------------------------------------------------------------

    def _lease(self, todo: Sequence[PageResult]) -> dict[str, leases.Lease]:
        """Lease each page of `todo`, in the run's pool: the leases taken. A page
        another live run holds is skipped (and counted); one that could not be leased
        has its error set."""
        ttl = timedelta(seconds=self.config.lease_seconds)
        held: dict[str, leases.Lease] = {}

        def take(pr: PageResult) -> leases.Lease | leases.Held | str:
            """The page's lease, the run holding it, or why it could not be leased."""
            try:
                return leases.acquire(
                    self.confluence,
                    pr.page.id,
                    self.run_id,
                    now=self.clock(),
                    ttl=ttl,
                    # A page showing tickets was synced, and so leased, before.
                    expect_existing=any(item.ticket for item in pr.plan.items),
                )
            except FollowupError as exc:
                return f"could not lease the page: {exc.show()}"

        for pr, got in zip(todo, self.state.map(take, todo), strict=True):
            if isinstance(got, str):
                pr.error = got
            elif isinstance(got, leases.Held):
                self._leased_by_another(pr, got)
            else:
                held[pr.page.id] = got
                if got.recent:
                    with self.state.lock:
                        self.state.recent_on[pr.page.id] = set(got.recent)
        return held

    def _leased_by_another(self, pr: PageResult, got: leases.Held) -> None:
        # Skipped, and counted in the run's summary. Another run at work is normal; a
        # lease held far longer than a run takes is a finding.
        pr.skipped = True
        pr.leased_by = got.owner
        age = int(got.age.total_seconds()) if got.age is not None else None
        log.info(
            "page-leased",
            run_id=self.run_id,
            page_id=pr.page.id,
            holder=got.owner,
            age_seconds=age,
            until=got.expires.isoformat(),
        )
        if got.stale and age is not None:
            pr.findings.append(
                Finding(
                    FindingCode.PAGE_LEASED,
                    pr.page.id,
                    None,
                    f"“{pr.page.title}” has been leased by run {got.owner} for "
                    f"{_duration(age)} (by the Confluence server's clock), far longer "
                    "than a run takes: that run is stuck or died, and runs before "
                    "this one were kept off the page too. Its lease expires at "
                    f"{got.expires.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC; then the "
                    "next run takes the page over.",
                )
            )
        pr.plan = replace(pr.plan, actions=())

    def _release_all(self, held: Sequence[leases.Lease]) -> None:
        """Give every lease back, in the worker pool: one request each, and on a
        first run there is one per page."""

        def give_back(lease: leases.Lease) -> None:
            try:
                leases.release(self.confluence, lease, created=self.state.created(lease.page_id))
            except FollowupError as exc:
                log.warning("lease-release-failed", page_id=lease.page_id, error=exc.show())

        list(self.state.map(give_back, held))

    def _create_all(self, pages: Sequence[PageResult]) -> dict[str, str]:
        """Create every planned ticket of `pages`, in bulk across them; item key ->
        ticket key."""
        return self._send_creates(
            [(pr, a) for pr in pages for a in pr.plan.actions if a.op is Op.CREATE]
        )

    def _send_creates(self, creates: Sequence[tuple[PageResult, Action]]) -> dict[str, str]:
        """Send these creates, `CREATE_CHUNK` to a request; item key -> ticket key."""
        created: dict[str, str] = {}
        chunks = [creates[s : s + CREATE_CHUNK] for s in range(0, len(creates), CREATE_CHUNK)]

        def send(chunk: Sequence[tuple[PageResult, Action]]) -> list[CreateResult]:
            specs = [payload(a, NewTicket) for _, a in chunk]
            return self._create_chunk(specs, [pr.page.id for pr, _ in chunk])

        # The chunks are independent (each finds its own tickets after an ambiguous
        # failure), so they go out side by side, in the run's worker pool.
        sent = list(self.state.map(send, chunks))
        for chunk, results in zip(chunks, sent, strict=True):
            by_ref = {r.ref: r for r in results}
            for pr, action in chunk:
                ref = payload(action, NewTicket).ref
                res = by_ref.get(ref)
                if res is not None and res.key:
                    created[ref] = res.key
                    with self.state.lock:
                        self.state.created_on.setdefault(pr.page.id, set()).add(res.key)
                    pr.outcomes.append(Outcome(action, True, ticket=res.key))
                    log.info(
                        "created",
                        run_id=self.run_id,
                        page_id=pr.page.id,
                        item=action.item,
                        jira_key=res.key,
                        action="create",
                        outcome="ok",
                    )
                else:
                    error = res.error if res is not None else "not created"
                    pr.outcomes.append(Outcome(action, False, error=error))
        return created

    def _create_chunk(self, specs: list[NewTicket], page_ids: list[str]) -> list[CreateResult]:
        """One bulk create, sent through `resend.send_checked`: after an ambiguous
        failure, find what landed and create only what is still missing (at most
        `CREATE_ATTEMPTS` sends; what is still unknown after that is left for the
        next run, which finds the tickets by their property)."""
        remaining = list(specs)
        results: dict[str, CreateResult] = {}
        search_error: FollowupError | None = None
        attempt = 0
        pages = sorted(set(page_ids))

        def send() -> list[CreateResult]:
            return self.jira.create_tickets(remaining)

        def check() -> resend.Seen:
            nonlocal remaining
            by_item = self._landed_by_item(pages)
            still: list[NewTicket] = []
            for spec in remaining:
                if spec.ref in by_item:
                    results[spec.ref] = CreateResult(spec.ref, key=by_item[spec.ref])
                else:
                    still.append(spec)
            remaining = still
            return resend.Seen.MISSING if remaining else resend.Seen.LANDED

        def landed(exc: ApiError) -> resend.Seen:
            nonlocal search_error, attempt
            log.warning("create-ambiguous", run_id=self.run_id, error=exc.show(), attempt=attempt)
            attempt += 1
            try:
                # The search lags Jira's writes (seconds on Cloud, and between the
                # nodes of a Data Center cluster): creating again what did land would
                # make a duplicate; waiting a little longer only delays a ticket.
                return resend.look(
                    check,
                    settle=self.config.search_settle_seconds,
                    pause=self.pause,
                    stop=self.stop.is_set,
                    on_wait=lambda wait: log.info(
                        "create-settle",
                        run_id=self.run_id,
                        missing=len(remaining),
                        wait_seconds=wait,
                    ),
                )
            except FollowupError as exc2:
                search_error = exc2
                return resend.Seen.UNKNOWN

        try:
            sent = resend.send_checked(send, landed, sends=CREATE_ATTEMPTS, stop=self.stop.is_set)
        except ApiError as exc:  # refused outright: nothing was created
            sent = resend.Sent(None, landed=False, sends=1, error=exc)
        for r in sent.value or ():
            results[r.ref] = r
        if sent.error is not None:
            # Still missing, or (the search failing, or the run's budget unable to
            # pay its wait) not known to be missing: left for the next run, not sent.
            error = (search_error or sent.error).show()
            for spec in remaining:
                results[spec.ref] = CreateResult(spec.ref, error=error)
        return [results.get(s.ref, CreateResult(s.ref, error="not created")) for s in specs]

    def _landed_by_item(self, page_ids: list[str]) -> dict[str, str]:
        """The tickets of these pages, searched fresh, by the item they belong to."""
        landed = self._search_pages(page_ids)
        return {t.prop.item: t.key for ts in landed.values() for t in ts if t.prop is not None}

    def _ticket_for(self, action: Action, created: Mapping[str, str]) -> str | None:
        if not action.needs_create:
            return action.ticket
        return created.get(action.item or "")

    def _apply_page(self, pr: PageResult, created: dict[str, str], today: date) -> None:
        """A page's plan carried out: its Jira writes, then its page write. A page write
        that meets a newer version (409, or a lost answer) comes back as a conflict:
        the page is read again, planned again by the same path as any page, the new
        plan's Jira writes (creates included) are made as an ordinary step, and its
        page write is tried again, at most `max_page_retries` times more."""
        self._apply_jira(pr, created)
        for action in pr.plan.actions:
            if action.op is not Op.WRITE_PAGE:
                continue
            write: PageWrite | None = payload(action, PageWrite)
            attempt = 1
            while write is not None:
                conflict = self._write_page(pr, action, write, created, attempt=attempt)
                if conflict is None:
                    break
                log.info("page-conflict", run_id=self.run_id, page_id=pr.page.id, attempt=attempt)
                # Someone (or our own lost write) moved the page on: start from what
                # it is now, so their edit survives and ours is made again on top.
                pr.page = self.confluence.get_page(pr.page.id)
                attempt += 1
                replan = self._replan(pr, today)
                extra = PagePlan(
                    pr.page.id,
                    tuple(a for a in replan.actions if a.op is not Op.WRITE_PAGE),
                    (),
                    replan.items,
                )
                if extra.actions:
                    self._apply_extra(pr, extra, created)
                nxt = next((a for a in replan.actions if a.op is Op.WRITE_PAGE), None)
                write = payload(nxt, PageWrite) if nxt is not None else None
                if write is None:  # the page already shows what it should
                    pr.outcomes.append(Outcome(action, True))

    def _apply_jira(self, pr: PageResult, created: Mapping[str, str]) -> None:
        """The Jira writes of a page's plan (creates are done already), in plan order,
        except that properties go last. A property records the synced values: where a
        create, adoption, field update or transition of its item failed, it keeps the
        base it had (recording a change Jira did not take would make the next run undo
        the person's edit), and is written only for its other bookkeeping (a reminder
        sent must be recorded, or it is sent again)."""
        plan = pr.plan
        # One update request per ticket, whatever number of fields changed.
        updates: dict[str, list[Action]] = {}
        for action in plan.actions:
            if action.op is Op.UPDATE and action.ticket:
                updates.setdefault(action.ticket, []).append(action)
        for key, actions in updates.items():
            actions = self._with_descriptions(pr, key, actions)
            if not actions:
                continue
            merged: dict[str, Any] = {}
            sends = [payload(a, FieldUpdate) for a in actions]
            for send in sends:
                merged.update(send.fields)
            labels = tuple(dict.fromkeys(lb for send in sends for lb in send.add_labels))
            update = FieldUpdate(fields=merged, add_labels=labels)
            self._do(pr, actions, self._updater(key, update), ticket=key)
        later = [a for a in plan.actions if a.op is Op.SET_PROPERTY]
        for action in [a for a in plan.actions if a.op is not Op.SET_PROPERTY] + later:
            if action.op in (Op.CREATE, Op.UPDATE, Op.SHOW, Op.WRITE_PAGE):
                continue
            ticket = self._ticket_for(action, created)
            if action.op is Op.SET_PROPERTY:
                # What the property becomes when writes it records failed, as the plan
                # says: the base as read, the reminders as read, or nothing to write.
                failed = [o.action for o in pr.outcomes if not o.ok]
                write = payload(action, PropertyWrite)
                prop = write.after(action.subject, failed)
                if prop is None:
                    why = _unrecorded(write, action, failed)
                    pr.outcomes.append(Outcome(action, False, error=why, skipped=True))
                    continue
                if ticket is not None:
                    self._do(pr, [action], self._property_setter(ticket, prop), ticket=ticket)
                    continue
            if ticket is None:
                pr.outcomes.append(
                    Outcome(action, False, error="its ticket was not created", skipped=True)
                )
                continue
            self._do(pr, [action], self._executor(action, ticket), ticket=ticket)

    def _with_descriptions(self, pr: PageResult, key: str, actions: list[Action]) -> list[Action]:
        """`actions` with each description edit made concrete: the ticket's description
        is read, and its first paragraph replaced by the item's new text. Where a
        person rewrote that paragraph, their description is kept and the edit is
        reported as skipped (not failed: the summary still goes out)."""
        out: list[Action] = []
        for action in actions:
            edit = payload(action, FieldUpdate).fields.get("description")
            if not isinstance(edit, DescriptionEdit):
                out.append(action)
                continue
            try:
                current = self.jira.get_description(key)
            except FollowupError as exc:
                pr.outcomes.append(Outcome(action, False, error=exc.show(), skipped=True))
                continue
            text = edit_description(current, edit)
            if text is None:
                why = "description left as it is: its first paragraph was edited in Jira"
                pr.outcomes.append(Outcome(action, False, error=why, ticket=key, skipped=True))
                continue
            if text == current:
                pr.outcomes.append(Outcome(action, True, ticket=key))
                continue
            out.append(replace(action, data=FieldUpdate(fields={"description": text})))
        return out

    def _updater(self, key: str, update: FieldUpdate) -> Callable[[], object]:
        return lambda: self.jira.update_ticket(key, update)

    def _property_setter(self, key: str, prop: TicketProperty) -> Callable[[], object]:
        return lambda: self.jira.set_property(key, prop)

    def _executor(self, action: Action, key: str) -> Callable[[], object]:
        if action.op is Op.TRANSITION:
            names = payload(action, Transition).names
            return lambda: self.jira.transition(key, names)
        if action.op is Op.ADOPT:
            update = payload(action, FieldUpdate)
            return lambda: self.jira.update_ticket(key, update)
        if action.op is Op.LINK:
            link = payload(action, RemoteLink)
            return lambda: self.jira.upsert_remote_link(
                key, global_id=link.global_id, url=link.url, title=link.title
            )
        if action.op is Op.COMMENT:
            body = payload(action, Comment).body
            return lambda: self.jira.add_comment(key, body)
        if action.op is Op.ISSUE_LINK:  # routing hook: a follow-up to its incident
            issue_link = payload(action, IssueLink)
            return lambda: self.jira.link_issue(key, issue_link.to, issue_link.link_type)
        raise AssertionError(f"no executor for {action.op}")

    def _do(
        self,
        pr: PageResult,
        actions: Sequence[Action],
        call: Callable[[], object],
        *,
        ticket: str | None = None,
    ) -> None:
        try:
            call()
        except FollowupError as exc:
            for a in actions:
                pr.outcomes.append(Outcome(a, False, error=exc.show(), ticket=ticket))
                log.warning(
                    "action-failed",
                    run_id=self.run_id,
                    page_id=pr.page.id,
                    item=a.item,
                    jira_key=ticket or a.ticket,
                    action=str(a.op),
                    outcome="failed",
                    error=exc.show(),
                )
            return
        for a in actions:
            pr.outcomes.append(Outcome(a, True, ticket=ticket))

    def _write_page(
        self,
        pr: PageResult,
        action: Action,
        write: PageWrite,
        created: Mapping[str, str],
        *,
        attempt: int,
    ) -> ApiError | None:
        """One page write of `write` onto the page as read; the write's error when it
        met a newer version (409, or an answer lost) and may be tried again after a
        re-plan (`attempt` within `max_page_retries` more), else None: what became of
        the write is recorded."""
        unlinked = {
            o.action.item
            for o in pr.outcomes
            if o.action.op is Op.LINK and not o.ok and o.action.item
        }

        def body_for(page: Page, _: int) -> str | None:
            body = render(
                page.body,
                page.id,
                write.changes_given(created, unlinked),
                summary=write.summary,
                jira_server=self.config.jira_server,
                jira_server_id=self.config.jira_server_id,
                date_order=self.config.date_order,
                vocabulary=self.config.vocabulary,
            )
            return None if body == page.body else body

        done = write_page(
            self.confluence,
            pr.page,
            body_for,
            retries=0,
            message="followup: action item tickets and status",
        )
        error = done.error
        if error is not None:
            if (error.status == 409 or error.ambiguous) and attempt <= self.config.max_page_retries:
                return error
            pr.outcomes.append(Outcome(action, False, error=error.show()))
            return None
        pr.page = done.page
        pr.outcomes.append(Outcome(action, True))
        if not done.written:
            return None
        pr.outcomes.extend(
            Outcome(a, True, ticket=a.ticket) for a in pr.plan.actions if a.op is Op.SHOW
        )
        log.info(
            "page-written",
            run_id=self.run_id,
            page_id=pr.page.id,
            action="write-page",
            outcome="ok",
            version=pr.page.version,
        )
        return None

    def _replan(self, pr: PageResult, today: date) -> PagePlan:
        """The page, read again after a conflict, planned again as any page is (its
        tickets searched fresh); its new findings join the page's."""
        page = pr.page
        extraction = self.extract_page(page)
        tickets = self._search_pages([page.id])[page.id]
        replan = self._plan(page, extraction, tickets, today)
        pr.findings.extend(f for f in replan.findings if f not in pr.plan.findings)
        return replan

    def _apply_extra(self, pr: PageResult, extra: PagePlan, created: dict[str, str]) -> None:
        """The Jira writes a re-plan added (an item added meanwhile, a tick made),
        carried out as any page's are: creates, then the other Jira writes."""
        sub = PageResult(pr.page, extra)
        created.update(self._create_all([sub]))
        self._apply_jira(sub, created)
        pr.outcomes.extend(sub.outcomes)
        pr.plan = replace(pr.plan, actions=pr.plan.actions + extra.actions)


class _TicketSearch:
    """A full pass's ticket search, batch by batch: the tickets of each batch's pages,
    as many pages a query as fill a page of results (100 issues) by the tickets per
    page seen so far, so that the searches cost about what one search of every
    managed ticket did (⌈T / 100⌉), without holding every ticket at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pages = 0
        self.tickets = 0

    def search(self, page_ids: Sequence[str]) -> dict[str, list[Ticket]]:
        per_query = SEARCH_PAGE_BATCH
        if self.pages and self.tickets:
            per_query = int(SEARCH_RESULTS_PAGE * self.pages / self.tickets)
        found = self.engine._search_pages(page_ids, per_query=per_query)
        self.pages += len(page_ids)
        self.tickets += sum(len(tickets) for tickets in found.values())
        return found


class _Batches:
    """The apply side of a streamed run: each batch of planned pages is leased,
    re-planned where it creates, and written; the creates wait in one queue and go
    `CREATE_CHUNK` to a request across pages and batches (a page whose creates are
    still queued is carried, leased, to the next batch, and the last batch sends
    what is left). Pages are let go (their bodies, their items' reasons) once
    written."""

    def __init__(self, engine: Engine, result: RunResult, today: date) -> None:
        self.engine = engine
        self.result = result
        self.today = today
        self.held: dict[str, leases.Lease] = {}
        self.created: dict[str, str] = {}
        self.queue: list[tuple[PageResult, Action]] = []
        self.carried: list[tuple[PageResult, Extraction | None]] = []
        self.waiting: list[tuple[PageResult, Extraction | None]] = []
        self.at: dict[int, int] = {}  # a page's place in the result, by the record's id

    def add(self, planned: Sequence[tuple[PageResult, Extraction | None]]) -> None:
        for pr, _ in planned:
            self.at[id(pr)] = len(self.result.pages)
            self.result.pages.append(pr)

    def hold(self, planned: Sequence[tuple[PageResult, Extraction | None]]) -> None:
        """Keep the pages that write until discovery is over; let the others go."""
        for pr, extraction in planned:
            if pr.plan.has_writes and not pr.error:
                self.waiting.append((pr, extraction))
            else:
                _let_go(pr)

    def take_held(self) -> list[tuple[PageResult, Extraction | None]]:
        waiting, self.waiting = self.waiting, []
        return waiting

    def apply(
        self, planned: Sequence[tuple[PageResult, Extraction | None]], *, final: bool
    ) -> None:
        engine = self.engine
        todo = [(pr, x) for pr, x in planned if pr.plan.has_writes and not pr.error]
        for pr, _ in planned:
            if not (pr.plan.has_writes and not pr.error):
                _let_go(pr)
        if engine.stop.is_set():
            return
        taken = engine._lease([pr for pr, _ in todo])
        self.held.update(taken)
        leased = [(pr, x) for pr, x in todo if pr.page.id in taken]
        for pr, _ in todo:
            if pr.page.id not in taken:
                _let_go(pr)
        # Another run may have created tickets since we searched: plan the pages
        # that create again, against a fresh search, now that we hold their lease.
        creating = [(pr, x) for pr, x in leased if pr.plan.creates and x is not None]
        if creating:
            fresh = engine._search_pages([pr.page.id for pr, _ in creating])
            for pr, extraction in creating:
                assert extraction is not None
                try:
                    pr.plan = engine._plan(pr.page, extraction, fresh[pr.page.id], self.today)
                except FollowupError as exc:
                    pr.error = exc.show()
        if engine.stop.is_set():
            return  # the leases are released at the end; nothing was written
        self.queue.extend(
            (pr, a)
            for pr, _ in leased
            if not pr.error
            for a in pr.plan.actions
            if a.op is Op.CREATE
        )
        sending = len(self.queue) if final else len(self.queue) // CREATE_CHUNK * CREATE_CHUNK
        if sending:
            self.created.update(engine._send_creates(self.queue[:sending]))
            self.queue = self.queue[sending:]
        queued = {id(pr) for pr, _ in self.queue}
        candidates = [*self.carried, *leased]
        self.carried = [(pr, x) for pr, x in candidates if id(pr) in queued]
        failed = [pr for pr, _ in candidates if pr.error]
        self._release(failed)
        self._write([pr for pr, _ in candidates if id(pr) not in queued and not pr.error])

    def _write(self, ready: Sequence[PageResult]) -> None:
        """Each page's writes, in the run's pool; what became of them comes back as a
        new record, which takes the page's place in the result."""
        engine = self.engine
        if not ready:
            return

        def apply_one(before: PageResult) -> PageResult:
            pr = replace(before, outcomes=list(before.outcomes), findings=list(before.findings))
            if engine.stop.is_set():
                pr.skipped = True  # stopping: left for the next run
                return pr
            try:
                engine._apply_page(pr, self.created, self.today)
            except FollowupError as exc:
                pr.error = exc.show()
            except Exception as exc:  # a bug on one page must not stop the others
                pr.error = engine._internal(pr.page, exc)
            return pr

        for before, pr in zip(ready, engine.state.map(apply_one, ready), strict=True):
            place = self.at.pop(id(before))
            self.result.pages[place] = pr
            self.at[id(pr)] = place
            _let_go(pr)
        self._release(ready)

    def _release(self, pages: Sequence[PageResult]) -> None:
        gone = [self.held.pop(pr.page.id) for pr in pages if pr.page.id in self.held]
        if gone:
            self.engine._release_all(gone)

    def release_all(self) -> None:
        """Give back every lease still held (a run that stopped or failed midway)."""
        if self.held:
            held, self.held = list(self.held.values()), {}
            self.engine._release_all(held)


def _let_go(pr: PageResult) -> None:
    """Once nothing needs them, drop a page's body and, of each item's story, the
    reasons (`followup explain` and debug logging have them; the reports show how
    each item's ticket was matched and its state after the run, which are kept)."""
    if pr.page.body:
        pr.page = replace(pr.page, body="")
    stories = pr.plan.stories
    if any(story.notes or story.why for story in stories.values()):
        slim = {key: replace(story, notes=(), why="") for key, story in stories.items()}
        pr.plan = replace(pr.plan, stories=slim)


def _batched(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    """`items` in lists of `size` (the last may be shorter), read as they come."""
    batch: list[_T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _is_page_id(value: str) -> bool:
    """Whether a ticket's page reference is a page id (it comes from Jira, where a
    person may have written anything)."""
    try:
        check_page_id(value)
    except ValueError:
        return False
    return True


def _sleeping(sleep: Callable[[float], None]) -> Callable[[float], bool]:
    def pause(seconds: float) -> bool:
        sleep(seconds)
        return True

    return pause


def _duration(seconds: int) -> str:
    """`45 s`, `4 min`, `2 h 5 min`."""
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def _unrecorded(write: PropertyWrite, action: Action, failed: Sequence[Action]) -> str:
    """Why a property write was left out: what failed before it."""
    comment_failed = any(a.op is Op.COMMENT and a.subject == action.subject for a in failed)
    if comment_failed and write.given(synced=True, sent=False) is None:
        return "not recorded: its comment failed"
    return "not recorded: another write for this item failed"
