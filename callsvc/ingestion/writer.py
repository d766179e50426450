"""The writer of webhook deliveries: group commit, acknowledged once durable.

Requests hand their verified delivery to the writer thread. It takes every delivery waiting at that
moment and writes them together, stage by stage (every body; then every call, event and read; then
the calls' updates), commits once, and only then answers each request: a PBX is never told
"accepted" about a delivery a crash could still lose, and one fsync (on PostgreSQL, and four
round trips) serves the whole batch. A batch that fails (one delivery's events cannot be applied,
a call is held by another transaction) is written again one delivery at a time, each in its own
savepoint, so only what failed is kept unapplied, to try again.

One writer per process, so that batches grow with the load, and their savings with them; several
processes (`callsvc serve --workers N`) share a PostgreSQL database.
"""

import asyncio
import logging
import queue
import threading
from contextlib import suppress
from dataclasses import dataclass

from psycopg.errors import LockNotAvailable
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from callsvc.clock import Clock
from callsvc.errors import DatabaseUnavailable
from callsvc.ingestion import pipeline
from callsvc.ingestion.pipeline import Delivery, Receipt
from callsvc.ops import metrics
from callsvc.settings import Settings
from callsvc.store import Store

log = logging.getLogger(__name__)

# More than this waiting goes in the next transaction, so no request waits behind an unbounded batch;
# and each delivery's savepoint is a PostgreSQL subtransaction, of which a transaction holding more
# than 64 slows every snapshot the server takes.
MAX_BATCH = 60
# Past this many waiting, or this many bytes of bodies, a delivery is refused with 503 at once: a
# database that cannot keep up is not made to hold an ever longer queue of bodies in memory while
# every sender times out anyway.
MAX_WAITING = 4096
MAX_WAITING_BYTES = 64 * 2**20
# A sender is answered within this, kept or not: PBXs give up after 10 to 15 s and send again.
ANSWER_WITHIN_SECONDS = 10
# How long a batch waits for a call's row lock. A writer holds a call for a batch, some tens of
# milliseconds; a longer hold (an admin's open transaction) must not stall the batch behind it:
# the delivery is kept and applied by the retry job once the call is free.
INGEST_LOCK_TIMEOUT_MS = 500
AFTER_A_HELD_CALL_LOCK_TIMEOUT_MS = 10
# A stop waits this long for the writer to finish what was handed over: what is still waiting
# then was not acknowledged, and its senders send it again.
STOP_WITHIN_SECONDS = 20


@dataclass(frozen=True)
class _Waiting:
    delivery: Delivery
    answer: asyncio.Future[Receipt]
    loop: asyncio.AbstractEventLoop


class DeliveryWriter:
    """Keeps deliveries in batches on its own thread; `submit` answers once the delivery's batch is committed."""

    def __init__(self, session_factory: sessionmaker[Session], *, settings: Settings, clock: Clock):
        self._session_factory = session_factory
        self._settings = settings
        self._clock = clock
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._waiting = self._waiting_bytes = 0  # changed on the event loop only
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="callsvc-delivery-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Finish every delivery handed over so far, then stop; any handed over later is refused."""
        self._stopped = True
        self._queue.put(None)
        self._thread.join(STOP_WITHIN_SECONDS)

    async def submit(self, delivery: Delivery) -> Receipt:
        """Keep and apply a delivery; return its receipt once it is committed, or raise why it was not kept."""
        if self._stopped:
            raise DatabaseUnavailable(
                "the service is stopping; nothing was kept, try again shortly", code="ingest_busy"
            )
        size = len(delivery.request.body)
        if self._waiting >= MAX_WAITING or self._waiting_bytes + size > MAX_WAITING_BYTES:
            raise DatabaseUnavailable(
                "more deliveries are waiting to be written than the database keeps up with; nothing was kept, "
                "try again shortly",
                code="ingest_busy",
            )
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Receipt] = loop.create_future()
        self._waiting += 1
        self._waiting_bytes += size
        self._queue.put(_Waiting(delivery, answer, loop))
        # Giving up ends only the wait: the delivery is still written, or not, in its turn. A timer
        # on the answer, not a timeout scope on the task: this runs for every delivery.
        timer = loop.call_later(ANSWER_WITHIN_SECONDS, _give_up, answer)
        try:
            return await answer
        finally:
            timer.cancel()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stopping = False
            while len(batch) < MAX_BATCH:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    stopping = True
                    break
                batch.append(waiting)
            try:
                self._write(batch)
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any batch, or every later sender hangs
                log.error("delivery writer failed on a batch of %d: %s", len(batch), type(exc).__name__)
            if stopping:
                return

    def _write(self, batch: list[_Waiting]) -> None:
        try:
            outcomes = self._commit_together(batch)
        except Exception as exc:  # noqa: BLE001 - nothing of the batch was kept: it is tried again, or refused
            log.warning("could not commit %d deliveries together: %s", len(batch), type(exc).__name__)
            # One delivery failing (its call held elsewhere, its events not applicable) fails the batch:
            # each is written alone, so only what failed is kept unapplied, to try again.
            try:
                outcomes = self._commit_one_by_one(batch, some_call_held=_is_lock_timeout(exc))
            except Exception:  # noqa: BLE001 - the database is away: every sender is told, and sends again
                outcomes = {id(waiting): exc for waiting in batch}
        answers: dict[asyncio.AbstractEventLoop, list[tuple[_Waiting, Receipt | Exception]]] = {}
        for waiting in batch:
            outcome = outcomes[id(waiting)]
            if isinstance(outcome, Receipt):  # counted once it is committed
                metrics.webhooks.labels(waiting.delivery.adapter.name, outcome.result).inc()
            answers.setdefault(waiting.loop, []).append((waiting, outcome))
        for loop, answered in answers.items():
            with suppress(RuntimeError):  # the loop is closed: the app, and the senders' requests, are gone
                # One wake-up of the event loop for the whole batch.
                loop.call_soon_threadsafe(self._answer_all, answered)

    def _commit_together(self, batch: list[_Waiting]) -> dict[int, Receipt | Exception]:
        """Write a batch in one transaction, each stage's statements sent together; any failure fails it whole."""
        deliveries = sorted(batch, key=lambda waiting: waiting.delivery.order)
        with self._session_factory() as session:
            store = Store.of(session)
            with store.pipeline():
                store.limit_lock_wait(self._lock_wait(some_call_held=False))
                receipts = pipeline.keep_all(
                    store, [waiting.delivery for waiting in deliveries], settings=self._settings, clock=self._clock
                )
            session.commit()
        return {id(waiting): receipt for waiting, receipt in zip(deliveries, receipts, strict=True)}

    def _commit_one_by_one(self, batch: list[_Waiting], *, some_call_held: bool) -> dict[int, Receipt | Exception]:
        """Write a batch that failed together one delivery at a time, each in its own savepoint, with one commit.

        What failed (a delivery whose events cannot be applied, a call held by another transaction)
        is kept unapplied, to try again; the rest is applied as it would have been on its own.
        """
        outcomes: dict[int, Receipt | Exception] = {}
        held: set[tuple[str, str]] = set()
        with self._session_factory() as session:
            store = Store.of(session)
            # A held call costs the batch one wait; once one was found, any other costs next to nothing,
            # so many held calls (a bulk transaction elsewhere) do not add their waits up.
            store.limit_lock_wait(self._lock_wait(some_call_held=some_call_held))
            for waiting in sorted(batch, key=lambda waiting: waiting.delivery.order):
                call = waiting.delivery.order[:2]
                try:
                    receipt = pipeline.keep_alone(
                        store,
                        waiting.delivery,
                        failure=pipeline.CallHeld() if call in held else None,
                        settings=self._settings,
                        clock=self._clock,
                    )
                except Exception as exc:  # noqa: BLE001 - this one was not kept; its sender is told
                    outcomes[id(waiting)] = exc
                    continue
                if receipt.retrying and call not in held:
                    if not held and not some_call_held:
                        store.limit_lock_wait(AFTER_A_HELD_CALL_LOCK_TIMEOUT_MS)
                    held.add(call)
                outcomes[id(waiting)] = receipt
            session.commit()
        return outcomes

    def _lock_wait(self, *, some_call_held: bool) -> int:
        first = min(self._settings.db_lock_timeout_ms, INGEST_LOCK_TIMEOUT_MS)
        return AFTER_A_HELD_CALL_LOCK_TIMEOUT_MS if some_call_held else first

    def _answer_all(self, answered: list[tuple[_Waiting, Receipt | Exception]]) -> None:
        for waiting, outcome in answered:
            self._waiting -= 1
            self._waiting_bytes -= len(waiting.delivery.request.body)
            if waiting.answer.done():  # the sender hung up; a retry will find the delivery kept, or not
                continue
            if isinstance(outcome, Exception):
                waiting.answer.set_exception(outcome)
            else:
                waiting.answer.set_result(outcome)


def _give_up(answer: asyncio.Future[Receipt]) -> None:
    if not answer.done():
        answer.set_exception(
            DatabaseUnavailable(
                "the database did not keep the delivery in time; send it again shortly (if it was kept after "
                "all, it is answered as a duplicate)",
                code="ingest_timeout",
            )
        )


def _is_lock_timeout(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "orig", exc), LockNotAvailable)
