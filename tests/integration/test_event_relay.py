"""The LISTEN relay on a real PostgreSQL: events committed anywhere reach the handlers of the hotel's
terminals, in commit-safe order, once committed and never otherwise, across reconnects and restarts."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from core.db.transaction import tenant_session
from core.events.bus import ANY, EventBus, RetryPolicy, current_event_id
from core.events.relay import APPLICATION_NAME, EVENT_CHANNEL, EventRelay
from core.models import OutboxEvent
from migrations import rules
from tests.integration import relay_child

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0
# Durable consumers read settled rows only, so a long write transaction anywhere on a shared test server
# (another database's migration or benchmark) holds them back until it ends: they get a longer wait.
SETTLED_WAIT = 60.0


# --- helpers ---------------------------------------------------------------------------------------


def add_event(session: Session, hotel_id: int, booking_id: int) -> int:
    row = OutboxEvent(
        hotel_id=hotel_id, name="booking.updated", payload={"hotel_id": hotel_id, "booking_id": booking_id}
    )
    session.add(row)
    session.flush()
    return row.id


def commit_event(engine: Engine, hotel_id: int, booking_id: int) -> int:
    """One event in its own transaction, written by the runtime role as a service would."""
    with tenant_session(engine, hotel_id) as session:
        return add_event(session, hotel_id, booking_id)


class Received:
    """A handler that remembers (outbox id, event) pairs, and waits for them."""

    def __init__(self) -> None:
        self.items: list[tuple[int | None, Any]] = []
        self._changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._changed:
            self.items.append((current_event_id(), event))
            self._changed.notify_all()

    @property
    def ids(self) -> list[int | None]:
        return [event_id for event_id, _ in self.items]

    @property
    def bookings(self) -> list[int]:
        return [event.booking_id for _, event in self.items]

    def wait_for(self, count: int, timeout: float = WAIT) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.items) >= count, timeout)


@contextmanager
def running_relay(
    engine: Engine, hotel_id: int, handler: Callable[[Any], None], **options: Any
) -> Iterator[EventRelay]:
    bus = EventBus(retry=options.pop("retry", RetryPolicy(attempts=3, first_delay=0.01)))
    bus.subscribe(ANY, handler)
    relay = EventRelay(engine, hotel_id, bus, **options)
    relay.start()
    try:
        assert relay.wait_ready(WAIT), "relay did not start listening"
        yield relay
    finally:
        relay.stop()
        bus.close(timeout=2)


def terminate_listener(owner: Engine) -> int:
    with owner.connect() as conn:
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION_NAME},
            ).all()
        )


def saved_cursor(owner: Engine, hotel_id: int, consumer: str) -> tuple[int, int] | None:
    with owner.connect() as conn:
        row = conn.execute(
            text("SELECT last_txid, last_event_id FROM event_cursors WHERE hotel_id = :h AND consumer = :c"),
            {"h": hotel_id, "c": consumer},
        ).first()
    return (row.last_txid, row.last_event_id) if row else None


def wait_for_saved_cursor(owner: Engine, hotel_id: int, consumer: str, expected: tuple[int, int]) -> None:
    """Durable consumers read settled rows only: a write transaction open elsewhere on a shared test
    server can hold them back for a while, never for good."""
    deadline = time.monotonic() + SETTLED_WAIT
    while saved_cursor(owner, hotel_id, consumer) != expected:
        assert time.monotonic() < deadline, f"cursor stuck at {saved_cursor(owner, hotel_id, consumer)}"
        time.sleep(0.05)


def outbox_order(owner: Engine, event_ids: list[int]) -> dict[int, tuple[int, int]]:
    with owner.connect() as conn:
        rows = conn.execute(text("SELECT id, txid FROM event_outbox WHERE id = ANY(:ids)"), {"ids": event_ids}).all()
    return {row.id: (row.txid, row.id) for row in rows}


def test_relay_listens_on_the_channel_the_outbox_trigger_notifies():
    assert EVENT_CHANNEL == rules.EVENT_CHANNEL


# --- one process -----------------------------------------------------------------------------------


def test_committed_events_reach_the_handler_in_commit_order_through_listen(db, hotel):
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=60):  # no timer: LISTEN only
        started = time.monotonic()
        committed = [commit_event(db.app, hotel.hotel_id, booking) for booking in range(1, 6)]
        assert received.wait_for(5)
        elapsed = time.monotonic() - started
    assert received.ids == committed
    assert received.bookings == [1, 2, 3, 4, 5]
    assert all(event.hotel_id == hotel.hotel_id for _, event in received.items)
    assert elapsed < 5


def test_a_rolled_back_transaction_delivers_nothing(db, hotel):
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=0.2):
        first = commit_event(db.app, hotel.hotel_id, 1)
        with pytest.raises(RuntimeError), tenant_session(db.app, hotel.hotel_id) as session:
            add_event(session, hotel.hotel_id, 2)
            raise RuntimeError("the guest changed their mind")
        last = commit_event(db.app, hotel.hotel_id, 3)
        assert received.wait_for(2)
        time.sleep(0.5)  # two more timer reads
    assert received.ids == [first, last]
    assert received.bookings == [1, 3]


def test_a_row_whose_notification_never_came_is_delivered_by_the_periodic_read(db, hotel):
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=0.3):
        with Session(db.owner) as session, session.begin():
            # replica mode skips the NOTIFY trigger: as if the listener had been disconnected
            session.execute(text("SET LOCAL session_replication_role = replica"))
            silent = add_event(session, hotel.hotel_id, 7)
        assert received.wait_for(1, timeout=3)
    assert received.ids == [silent]


def test_a_terminal_starts_at_the_current_end_of_the_outbox(db, hotel):
    for booking in (1, 2):
        commit_event(db.app, hotel.hotel_id, booking)
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=60):
        new = commit_event(db.app, hotel.hotel_id, 3)
        assert received.wait_for(1)
        time.sleep(0.2)
    assert received.ids == [new]


def test_a_terminal_starting_while_an_old_transaction_is_open_skips_what_was_already_committed(db, hotel):
    """Rows committed after an older, still open transaction began sort after the settled end of the
    outbox; a fresh terminal must still treat them as history."""
    with db.owner.connect() as old_transaction:
        old_transaction.execute(text("SELECT pg_current_xact_id()"))  # holds back the server's xmin
        history = [commit_event(db.app, hotel.hotel_id, booking) for booking in (1, 2)]
        received = Received()
        with running_relay(db.app, hotel.hotel_id, received, poll_interval=60):
            new = commit_event(db.app, hotel.hotel_id, 3)
            old_transaction.rollback()
            assert received.wait_for(1)
            time.sleep(0.3)
    assert history
    assert received.ids == [new]


def test_out_of_order_commits_deliver_both_events_each_as_soon_as_it_commits(db, hotel):
    """A inserts first (smaller id) but commits last: an `id > cursor` reader would skip it for good."""
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=60):
        with tenant_session(db.app, hotel.hotel_id) as first_transaction:
            early = add_event(first_transaction, hotel.hotel_id, 1)
            late = commit_event(db.app, hotel.hotel_id, 2)
            assert late > early
            assert received.wait_for(1)  # not held back by the older transaction still open
        assert received.wait_for(2)
        time.sleep(0.2)
    assert received.ids == [late, early]  # commit order


def test_an_open_transaction_elsewhere_on_the_server_does_not_delay_delivery(db, hotel, other_hotel):
    received = Received()
    with (
        running_relay(db.app, hotel.hotel_id, received, poll_interval=60),
        tenant_session(db.app, other_hotel.hotel_id) as long_transaction,  # e.g. another hotel's night audit
    ):
        add_event(long_transaction, other_hotel.hotel_id, 1)
        started = time.monotonic()
        ours = commit_event(db.app, hotel.hotel_id, 2)
        assert received.wait_for(1, timeout=2)
        assert time.monotonic() - started < 1
    assert received.ids == [ours]


def test_events_of_another_hotel_are_never_delivered(db, hotel, other_hotel):
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=0.2):
        ours = []
        for booking in range(1, 4):
            commit_event(db.app, other_hotel.hotel_id, 100 + booking)
            ours.append(commit_event(db.app, hotel.hotel_id, booking))
        commit_event(db.app, other_hotel.hotel_id, 200)
        assert received.wait_for(3)
        time.sleep(0.5)
    assert received.ids == ours
    assert {event.hotel_id for _, event in received.items} == {hotel.hotel_id}


def test_handler_that_always_raises_blocks_no_one_and_ends_in_failed_deliveries(db, hotel):
    attempts: list[int | None] = []

    def always_raises(event: Any) -> None:
        attempts.append(current_event_id())
        raise RuntimeError(f"key encoder offline (booking {event.booking_id})")

    healthy = Received()
    bus = EventBus(retry=RetryPolicy(attempts=3, first_delay=0.05))
    bus.subscribe(ANY, always_raises)
    bus.subscribe(ANY, healthy)
    relay = EventRelay(db.app, hotel.hotel_id, bus, poll_interval=60)
    relay.start()
    try:
        assert relay.wait_ready(WAIT)
        committed = [commit_event(db.app, hotel.hotel_id, booking) for booking in (1, 2)]
        assert healthy.wait_for(2, timeout=1)  # long before the failing handler's retries are over
        assert bus.drain(WAIT)
    finally:
        relay.stop()
        bus.close()

    assert healthy.ids == committed
    assert attempts == [committed[0]] * 3 + [committed[1]] * 3
    with db.owner.connect() as conn:
        rows = conn.execute(
            text("SELECT hotel_id, event_id, handler, attempts, error FROM event_failed_deliveries ORDER BY id")
        ).all()
    assert [(r.hotel_id, r.event_id, r.attempts) for r in rows] == [(hotel.hotel_id, e, 3) for e in committed]
    assert all(r.handler.endswith("always_raises") for r in rows)
    assert "RuntimeError: key encoder offline (booking 1)" in rows[0].error


def test_relay_reconnects_after_its_backend_is_terminated_and_catches_up(db, hotel):
    received = Received()
    with running_relay(db.app, hotel.hotel_id, received, poll_interval=60, reconnect_delay=0.5) as relay:
        before = commit_event(db.app, hotel.hotel_id, 1)
        assert received.wait_for(1)

        assert terminate_listener(db.owner) == 1
        while_down = [commit_event(db.app, hotel.hotel_id, booking) for booking in (2, 3)]
        assert relay.connections == 1  # still waiting to reconnect: these notifications are lost

        assert received.wait_for(3)
        after = commit_event(db.app, hotel.hotel_id, 4)
        assert received.wait_for(4)
        assert relay.connections == 2
    assert received.ids == [before, *while_down, after]
    relay.stop()  # a second stop is harmless


def test_durable_consumer_resumes_after_a_restart_where_it_stopped(db, hotel):
    first_run = Received()
    with running_relay(db.app, hotel.hotel_id, first_run, consumer="night-printer", poll_interval=60):
        handled = [commit_event(db.app, hotel.hotel_id, booking) for booking in (1, 2)]
        assert first_run.wait_for(2, timeout=SETTLED_WAIT)
    missed = [commit_event(db.app, hotel.hotel_id, booking) for booking in (3, 4)]

    second_run = Received()
    with running_relay(db.app, hotel.hotel_id, second_run, consumer="night-printer", poll_interval=0.2):
        assert second_run.wait_for(2, timeout=SETTLED_WAIT)
        wait_for_saved_cursor(db.owner, hotel.hotel_id, "night-printer", outbox_order(db.owner, missed)[missed[-1]])
    assert first_run.ids == handled
    assert second_run.ids == missed


# --- other processes -------------------------------------------------------------------------------


class ChildTerminal:
    """tests/integration/relay_child.py in a subprocess; its JSON lines arrive on a queue."""

    def __init__(self, db: Any, hotel_id: int, *args: str) -> None:
        env = dict(os.environ)
        env[relay_child.URL_VARIABLE] = db.server.app_url(db.name).render_as_string(hide_password=False)
        env["PYTHONPATH"] = str(ROOT)
        self.process = subprocess.Popen(
            [sys.executable, relay_child.__file__, "--hotel", str(hotel_id), *args],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def wait_until(self, done: Callable[[dict[str, Any]], bool], timeout: float = SETTLED_WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"child did not report in time; events so far {self.event_ids}") from None
            if "event_id" in line:
                self.events.append(line)
            if done(line):
                return line

    def wait_ready(self) -> dict[str, Any]:
        return self.wait_until(lambda line: line.get("ready", False))

    def wait_for_event(self, event_id: int, timeout: float = SETTLED_WAIT) -> None:
        if event_id not in self.event_ids:
            self.wait_until(lambda line: line.get("event_id") == event_id, timeout)

    @property
    def event_ids(self) -> list[int]:
        return [line["event_id"] for line in self.events]

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        while not self.lines.empty():  # lines written before the kill still count
            line = self.lines.get()
            if "event_id" in line:
                self.events.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.wait_until(lambda line: line.get("stopped", False))
            self.process.wait(10)


@pytest.fixture
def children() -> Iterator[list[ChildTerminal]]:
    started: list[ChildTerminal] = []
    yield started
    for child in started:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait(10)


def test_a_second_process_receives_events_through_listen_in_commit_order(db, hotel, children):
    child = ChildTerminal(db, hotel.hotel_id, "--poll", "60")
    children.append(child)
    child.wait_ready()
    committed = [commit_event(db.app, hotel.hotel_id, booking) for booking in range(1, 11)]
    child.wait_for_event(committed[-1])
    child.stop()
    assert child.event_ids == committed
    assert [line["booking_id"] for line in child.events] == list(range(1, 11))


class Producer(threading.Thread):
    """Commits one event every ``interval`` seconds until stopped."""

    def __init__(self, engine: Engine, hotel_id: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.engine, self.hotel_id, self.interval = engine, hotel_id, interval
        self.committed: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        booking = 0
        while not self.done.is_set():
            booking += 1
            self.committed.append(commit_event(self.engine, self.hotel_id, booking))
            self.done.wait(self.interval)

    def finish(self) -> list[int]:
        self.done.set()
        self.join(10)
        return self.committed


def test_killed_durable_terminal_restarts_without_losing_or_repeating_handled_events(db, hotel, children):
    consumer = ["--consumer", "front-printer", "--poll", "60"]
    first = ChildTerminal(db, hotel.hotel_id, *consumer)
    children.append(first)
    first.wait_ready()

    producer = Producer(db.app, hotel.hotel_id, interval=0.025)
    producer.start()
    while len(first.events) < 15:
        first.wait_until(lambda line: "event_id" in line)
    first.kill()  # SIGKILL: no chance to save anything more
    committed_at_kill = len(producer.committed)
    durable = saved_cursor(db.owner, hotel.hotel_id, "front-printer")

    second = ChildTerminal(db, hotel.hotel_id, *consumer)
    children.append(second)
    second.wait_ready()
    assert len(producer.committed) > committed_at_kill  # events kept coming while it was down
    time.sleep(0.3)  # and after it is back
    committed = producer.finish()
    second.wait_for_event(committed[-1])
    second.stop()

    order = outbox_order(db.owner, committed)
    assert durable is not None
    handled_durably = [e for e in committed if order[e] <= durable]
    # The first run saw a prefix of the stream; its cursor covers a prefix of what it printed.
    assert first.event_ids == committed[: len(first.event_ids)]
    assert first.event_ids[: len(handled_durably)] == handled_durably
    # The restart resumes exactly after the saved cursor: nothing saved comes again, nothing is lost.
    assert second.event_ids == committed[len(handled_durably) :]


def test_terminal_killed_inside_a_handler_gets_that_event_again_and_nothing_else_twice(db, hotel, children):
    consumer = ["--consumer", "folio-printer", "--poll", "60"]
    first = ChildTerminal(db, hotel.hotel_id, *consumer, "--hang-on-booking", "3")
    children.append(first)
    first.wait_ready()
    committed = [commit_event(db.app, hotel.hotel_id, booking) for booking in range(1, 7)]
    first.wait_for_event(committed[2])  # its handler is now stuck on booking 3
    order = outbox_order(db.owner, committed)
    wait_for_saved_cursor(db.owner, hotel.hotel_id, "folio-printer", order[committed[1]])  # what it handled
    first.kill()

    second = ChildTerminal(db, hotel.hotel_id, *consumer)
    children.append(second)
    second.wait_ready()
    second.wait_for_event(committed[-1])
    second.stop()
    assert first.event_ids == committed[:3]
    assert second.event_ids == committed[2:]
    assert saved_cursor(db.owner, hotel.hotel_id, "folio-printer") == order[committed[-1]]
