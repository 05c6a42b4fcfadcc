"""The LISTEN relay: one background thread per process that feeds the signed-in hotel's outbox to the bus.

A notification only says "something was committed" (every hotel's listeners hear every hotel's
notifications, so the payload is ``hotel_id:event_id`` and nothing else). The outbox table is the truth:
on a notification for our hotel, on every (re)connect and on a timer, the relay reads the rows committed
since its read position through row-level security and publishes them in order. Notifications lost
while disconnected therefore cost only latency.

A terminal reads live (core.events.outbox): each event as soon as it commits. A durable consumer reads
settled rows and stores its cursor in ``event_cursors`` once its handlers are done with them, so a
restart resumes exactly where it stopped; only a crash in the middle of handling repeats the events
that were in hand (delivery is at least once).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time

import psycopg
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from core.db.engine import describe
from core.events import outbox
from core.events.bus import DeliveryFailure, EventBus, Publication
from core.events.outbox import OutboxBatch, ReadPosition

log = logging.getLogger(__name__)

# The channel the outbox trigger of migrations/rules.py notifies on (not imported: that would load Alembic
# into every terminal; a test keeps the two equal).
EVENT_CHANNEL = "frontdesk_events"
APPLICATION_NAME = "frontdesk-events"
# keepalives: a listener behind a dead network link otherwise waits forever for a packet that never comes.
CONNECT_OPTIONS = {
    "autocommit": True,
    "application_name": APPLICATION_NAME,
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
HELD_BACK_FIRST_DELAY = 0.05
HELD_BACK_MAX_DELAY = 0.5
SLOW_HANDLER = 0.25  # seconds a durable consumer waits for a handler before saving the part already handled
CONNECTION_ERRORS = (psycopg.Error, SQLAlchemyError, OSError)


def listen_conninfo(url: URL) -> str:
    """A libpq conninfo for the same server, role and database as a SQLAlchemy URL (password included)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class EventRelay:
    """Publishes one hotel's outbox events on ``bus``, live and without gaps.

    ``consumer`` names a durable consumer whose cursor lives in ``event_cursors``; without it the relay
    starts at the current end of the outbox and keeps its place in memory (a terminal's live view).
    """

    def __init__(
        self,
        engine: Engine,
        hotel_id: int,
        bus: EventBus,
        *,
        consumer: str | None = None,
        poll_interval: float = 2.0,
        reconnect_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        batch_size: int = 200,
    ) -> None:
        if consumer is not None and not 0 < len(consumer) <= 100:
            raise ValueError("a durable consumer needs a name of 1 to 100 characters")
        self.engine = engine
        self.hotel_id = int(hotel_id)
        self.bus = bus
        self.consumer = consumer
        self.poll_interval = poll_interval
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.batch_size = batch_size
        self.connections = 0  # LISTEN sessions opened so far (monitoring: more than one means reconnects)
        self._conninfo = listen_conninfo(engine.url)
        self._where = describe(engine.url)  # for log lines: never the password
        self._position: ReadPosition | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._live = False
        self._wake_reader, self._wake_writer = socket.socketpair()  # select()-able on Windows too
        self._wake_reader.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"event-relay-{self.hotel_id}", daemon=True)
        bus.set_failure_sink(self._record_failure)

    @property
    def position(self) -> ReadPosition | None:
        return self._position

    def start(self) -> None:
        self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the relay listens and has caught up with the outbox for the first time."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening and join the thread; a durable cursor keeps what was handled and saved."""
        self._stopping.set()
        with contextlib.suppress(OSError):  # already stopped: the wake-up socket is closed
            self._wake_writer.send(b"x")
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("event relay for hotel %s did not stop within %.1fs", self.hotel_id, timeout)
            return
        self._wake_reader.close()
        self._wake_writer.close()

    # --- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = self.reconnect_delay
        while not self._stopping.is_set():
            try:
                self._follow()
            except CONNECTION_ERRORS as exc:
                if self._stopping.is_set():
                    break
                log.warning(
                    "event listener for hotel %s lost %s (%s); reconnecting in %.1fs",
                    self.hotel_id,
                    self._where,
                    _first_line(exc),
                    delay,
                )
            except Exception:
                log.exception("event relay for hotel %s failed; restarting in %.1fs", self.hotel_id, delay)
            if self._live:  # the connection worked for a while: start the backoff afresh
                self._live = False
                delay = self.reconnect_delay
            self._stopping.wait(delay)
            delay = min(delay * 2, self.reconnect_max_delay)

    def _follow(self) -> None:
        """One LISTEN session: listen first, then catch up, then wait for wake-ups until stopped or broken."""
        with psycopg.connect(self._conninfo, **CONNECT_OPTIONS) as conn:  # type: ignore[arg-type]
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENT_CHANNEL)))
            self.connections += 1
            self._ours(conn)  # anything that arrived during LISTEN is covered by the catch-up below
            if self._position is None:
                self._position = self._start_position()
            held_back = self._catch_up()
            self._live = True
            self._ready.set()
            log.info("listening for hotel %s events on %s", self.hotel_id, self._where)
            self._wait_and_read(conn, held_back)

    def _wait_and_read(self, conn: psycopg.Connection, held_back: bool) -> None:
        next_poll = time.monotonic() + self.poll_interval
        retry_delay = HELD_BACK_FIRST_DELAY
        wake = self._wake_reader.fileno()
        while not self._stopping.is_set():
            # Settled reads: rows held back by an older open transaction usually settle within
            # milliseconds, and its end sends no notification: look again soon, backing off.
            wake_at = min(next_poll, time.monotonic() + retry_delay) if held_back else next_poll
            readable, _, _ = select.select([conn.fileno(), wake], [], [], max(0.0, wake_at - time.monotonic()))
            if wake in readable:
                self._wake_reader.recv(64)
                continue
            if (readable and self._ours(conn)) or time.monotonic() >= wake_at:
                held_back = self._catch_up()
                next_poll = time.monotonic() + self.poll_interval
                retry_delay = min(retry_delay * 2, HELD_BACK_MAX_DELAY) if held_back else HELD_BACK_FIRST_DELAY

    def _ours(self, conn: psycopg.Connection) -> bool:
        """Take the pending notifications; True if one is for this hotel. A dead connection raises here."""
        prefix = f"{self.hotel_id}:"
        payloads = [n.payload for n in conn.notifies(timeout=0)]  # exhaust the generator: it holds the lock
        return any(payload.startswith(prefix) for payload in payloads)

    def _start_position(self) -> ReadPosition:
        """A durable consumer resumes at its stored cursor (a new one registers at the settled end);
        anyone else starts at the end of the outbox."""
        if self.consumer is None:
            return outbox.tail(self.engine, self.hotel_id).position
        saved = outbox.load_cursor(self.engine, self.hotel_id, self.consumer)
        if saved is None:
            saved = outbox.tail(self.engine, self.hotel_id).settled
            outbox.save_cursor(self.engine, self.hotel_id, self.consumer, saved)
            log.info("durable consumer %r registered for hotel %s at %s", self.consumer, self.hotel_id, saved)
        return ReadPosition(saved)

    def _catch_up(self) -> bool:
        """Publish every new row in order; True if committed rows are held back (settled reads only)."""
        while not self._stopping.is_set():
            assert self._position is not None
            if self.consumer is None:
                batch = outbox.read_live(self.engine, self.hotel_id, self._position, self.batch_size)
            else:
                batch = outbox.read_settled(self.engine, self.hotel_id, self._position.last, self.batch_size)
            publications = [self.bus.publish(record.event, record.event_id) for record in batch.records]
            if self.consumer is not None and not self._acknowledge(batch, publications):
                return False
            self._position = batch.position
            if not batch.full:
                return batch.held_back
        return False

    # --- durable consumers -----------------------------------------------------------------------

    def _acknowledge(self, batch: OutboxBatch, publications: list[Publication]) -> bool:
        """Wait until the handlers are done with a batch (retries included), then store the cursor.
        False if told to stop first.

        While a handler is slow, the part already handled is stored, so a crash then repeats only the
        events in hand.
        """
        assert self._position is not None
        handled = self._position.last
        for record, publication in zip(batch.records, publications, strict=True):
            if not publication.wait(SLOW_HANDLER):
                if handled != self._position.last:
                    self._save(ReadPosition(handled))
                while not publication.wait(SLOW_HANDLER):
                    if self._stopping.is_set():
                        return False
            handled = record.cursor
        if batch.position != self._position:
            self._save(batch.position)
        return True

    def _save(self, position: ReadPosition) -> None:
        assert self.consumer is not None
        outbox.save_cursor(self.engine, self.hotel_id, self.consumer, position.last)
        self._position = position

    def _record_failure(self, failure: DeliveryFailure) -> None:
        if failure.event_id is None or failure.event.hotel_id != self.hotel_id:
            return  # published locally, not from this hotel's outbox: the bus has logged it
        outbox.record_failed_delivery(
            self.engine, self.hotel_id, failure.event_id, failure.handler, failure.attempts, failure.error
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
