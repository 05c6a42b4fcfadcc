"""The in-process event bus: handlers subscribe by event type (or ``"*"``) and each runs in isolation.

A handler's deliveries run one at a time and in publish order on a small worker pool, so one handler
never waits for another. An exception is logged and retried with exponential backoff; a retry is a timer,
not a sleeping worker, so a failing handler does not hold up the rest. When the tries run out the delivery
is handed to the failure sink (the relay records it in the database) and the handler moves on. Nothing a
handler does reaches the code that published the event. The bus itself knows no database.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.events.catalog import EVENT_TYPES, DomainEvent

log = logging.getLogger(__name__)

ANY = "*"
DEFAULT_MAX_LISTENERS = 50

Handler = Callable[[DomainEvent], Any]
EventType = type[DomainEvent] | str

_current_event_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_event_id", default=None)


def current_event_id() -> int | None:
    """Inside a handler: the outbox id of the event being delivered (None for an event published locally).

    Delivery is at least once; a handler that must not act twice de-duplicates on this id.
    """
    return _current_event_id.get()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    first_delay: float = 1.0  # seconds before the second try; doubles for each further try

    def delay_before(self, attempt: int) -> float:
        return self.first_delay * 2 ** (attempt - 2)


@dataclass(frozen=True)
class DeliveryFailure:
    """A delivery that failed on every try."""

    event: DomainEvent
    event_id: int | None
    handler: str
    attempts: int
    error: str


FailureSink = Callable[[DeliveryFailure], None]


class Publication:
    """Completes when every handler the event reached is done with it, by success or by recorded failure."""

    def __init__(self, deliveries: int) -> None:
        self._pending = deliveries
        self._lock = threading.Lock()
        self._done = threading.Event()
        if deliveries == 0:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _finish_one(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending == 0:
                self._done.set()


@dataclass
class _Delivery:
    event: DomainEvent
    event_id: int | None
    publication: Publication
    attempt: int = 0


@dataclass(eq=False)
class _Lane:
    """One handler's queue: its deliveries run one at a time, in the order they were published."""

    handler: Handler
    name: str
    queue: deque[_Delivery] = field(default_factory=deque)
    busy: bool = False
    subscriptions: int = 0


def handler_name(handler: Handler) -> str:
    module = getattr(handler, "__module__", None)
    qualname = getattr(handler, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else repr(handler)


def event_key(event_type: EventType) -> str:
    """The subscription key of an event class or name; unknown names are refused, a typo never subscribes."""
    if isinstance(event_type, str):
        if event_type != ANY and event_type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event_type!r}")
        return event_type
    if not (isinstance(event_type, type) and issubclass(event_type, DomainEvent)) or not event_type.name:
        raise ValueError(f"{event_type!r} is not a catalogued event type")
    return event_type.name


class EventBus:
    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        workers: int = 4,
        max_listeners: int = DEFAULT_MAX_LISTENERS,
        on_failure: FailureSink | None = None,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.max_listeners = max_listeners
        self._on_failure = on_failure
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="event-bus")
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._subscriptions: dict[str, list[Handler]] = {}
        self._lanes: dict[Handler, _Lane] = {}
        self._warned: set[str] = set()
        self._outstanding = 0
        self._timers: set[threading.Timer] = set()
        self._closed = False

    # --- subscriptions ---------------------------------------------------------------------------

    def subscribe(self, event_type: EventType, handler: Handler) -> None:
        """Call ``handler(event)`` for every published event of that type; subscribing twice is a no-op."""
        key = event_key(event_type)
        with self._lock:
            handlers = self._subscriptions.setdefault(key, [])
            if handler in handlers:
                return
            handlers.append(handler)
            lane = self._lanes.get(handler)
            if lane is None:
                lane = self._lanes[handler] = _Lane(handler, handler_name(handler))
            lane.subscriptions += 1
            count = len(handlers)
            # Warn once per type: past the limit it is almost always a panel that subscribes on every open.
            warn = count > self.max_listeners and key not in self._warned
            if warn:
                self._warned.add(key)
        if warn:
            log.warning(
                "%d handlers subscribed to %s (limit %d): handlers are probably subscribed and never removed",
                count,
                key,
                self.max_listeners,
            )

    def unsubscribe(self, event_type: EventType, handler: Handler) -> bool:
        """Stop delivering that type to ``handler``; deliveries already queued still run. False if not subscribed."""
        key = event_key(event_type)
        with self._lock:
            handlers = self._subscriptions.get(key, [])
            if handler not in handlers:
                return False
            handlers.remove(handler)
            lane = self._lanes[handler]
            lane.subscriptions -= 1
            if lane.subscriptions == 0 and not lane.busy and not lane.queue:
                del self._lanes[handler]
            return True

    def listener_count(self, event_type: EventType) -> int:
        """Handlers subscribed to exactly this type (``"*"`` counts the wildcard subscribers)."""
        key = event_key(event_type)
        with self._lock:
            return len(self._subscriptions.get(key, ()))

    def set_failure_sink(self, sink: FailureSink | None) -> None:
        self._on_failure = sink

    # --- publishing ------------------------------------------------------------------------------

    def publish(self, event: DomainEvent, event_id: int | None = None) -> Publication:
        """Queue the event for every handler of its type and the wildcard; returns at once, never raises
        because of a handler."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the event bus is closed")
            handlers = dict.fromkeys(self._subscriptions.get(event.name, []) + self._subscriptions.get(ANY, []))
            publication = Publication(len(handlers))
            for handler in handlers:
                lane = self._lanes[handler]
                lane.queue.append(_Delivery(event, event_id, publication))
                self._outstanding += 1
                if not lane.busy:
                    lane.busy = True
                    self._pool.submit(self._run_next, lane)
        return publication

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued delivery (retries included) is finished; False if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._outstanding:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop taking events; wait up to ``timeout`` for queued deliveries, then drop what is left."""
        self.drain(timeout)
        with self._lock:
            self._closed = True
            timers, self._timers = self._timers, set()
            dropped = self._outstanding
        for timer in timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if dropped:
            log.warning("event bus closed with %d deliveries not finished", dropped)

    # --- delivery --------------------------------------------------------------------------------

    def _run_next(self, lane: _Lane) -> None:
        with self._lock:
            if self._closed or not lane.queue:
                self._park(lane)
                return
            delivery = lane.queue[0]
        delivery.attempt += 1
        error = self._call(lane, delivery)
        if error is not None and delivery.attempt < self.retry.attempts:
            self._retry_later(lane, delivery, error)
            return
        if error is not None:
            self._report(lane, delivery, error)
        with self._lock:
            lane.queue.popleft()
            self._outstanding -= 1
            if not self._outstanding:
                self._idle.notify_all()
            more = bool(lane.queue) and not self._closed
            if more:
                # Back of the pool's queue: a handler with a long backlog takes turns with the others.
                self._pool.submit(self._run_next, lane)
            else:
                self._park(lane)
        delivery.publication._finish_one()

    def _park(self, lane: _Lane) -> None:
        """Called with the lock held: the lane has nothing to run."""
        lane.busy = False
        if lane.subscriptions == 0 and not lane.queue:
            self._lanes.pop(lane.handler, None)

    def _call(self, lane: _Lane, delivery: _Delivery) -> BaseException | None:
        token = _current_event_id.set(delivery.event_id)
        try:
            lane.handler(delivery.event)
        except Exception as exc:
            return exc
        finally:
            _current_event_id.reset(token)
        return None

    def _retry_later(self, lane: _Lane, delivery: _Delivery, error: BaseException) -> None:
        delay = self.retry.delay_before(delivery.attempt + 1)
        log.warning(
            "event handler %s failed on %s (try %d of %d), retrying in %.2fs: %s",
            lane.name,
            delivery.event.name,
            delivery.attempt,
            self.retry.attempts,
            delay,
            _describe(error),
            exc_info=error,
        )
        timer = threading.Timer(delay, lambda: self._resume(lane, timer))
        timer.daemon = True
        with self._lock:
            if self._closed:
                return
            self._timers.add(timer)
        timer.start()

    def _resume(self, lane: _Lane, timer: threading.Timer) -> None:
        with self._lock:
            self._timers.discard(timer)
            if self._closed:
                return
            self._pool.submit(self._run_next, lane)

    def _report(self, lane: _Lane, delivery: _Delivery, error: BaseException) -> None:
        log.error(
            "event handler %s gave up on %s (outbox id %s) after %d tries: %s",
            lane.name,
            delivery.event.name,
            delivery.event_id,
            delivery.attempt,
            _describe(error),
            exc_info=error,
        )
        sink = self._on_failure
        if sink is None:
            return
        failure = DeliveryFailure(
            event=delivery.event,
            event_id=delivery.event_id,
            handler=lane.name,
            attempts=delivery.attempt,
            error=_describe(error),
        )
        try:
            sink(failure)
        except Exception:
            log.exception("could not record the failed delivery of %s to %s", delivery.event.name, lane.name)


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()
