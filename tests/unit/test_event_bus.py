"""The in-process bus: isolation, ordering, retries with backoff, failed deliveries, wildcard, counts."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.events.bus import ANY, DeliveryFailure, EventBus, RetryPolicy, current_event_id
from core.events.catalog import BookingCancelled, BookingCreated, BookingUpdated, DomainEvent

FAST_RETRY = RetryPolicy(attempts=3, first_delay=0.01)


@pytest.fixture
def bus() -> Iterator[EventBus]:
    bus = EventBus(retry=FAST_RETRY)
    yield bus
    bus.close(timeout=2)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.ids: list[int | None] = []
        self.threads: set[str] = set()

    def __call__(self, event: DomainEvent) -> None:
        self.events.append(event)
        self.ids.append(current_event_id())
        self.threads.add(threading.current_thread().name)


def updated(n: int, hotel_id: int = 1) -> BookingUpdated:
    return BookingUpdated(hotel_id=hotel_id, booking_id=n)


def always_fails(event: DomainEvent) -> None:
    raise RuntimeError(f"printer offline for booking {getattr(event, 'booking_id', '?')}")


def test_one_failing_handler_neither_stops_the_others_nor_reaches_the_publisher(bus):
    before, after = Recorder(), Recorder()
    bus.subscribe(BookingUpdated, before)
    bus.subscribe(BookingUpdated, always_fails)
    bus.subscribe(BookingUpdated, after)

    bus.publish(updated(1))  # does not raise

    assert bus.drain(5)
    assert [e.booking_id for e in before.events] == [1]
    assert [e.booking_id for e in after.events] == [1]
    assert "MainThread" not in before.threads


def test_failing_handler_is_retried_then_recorded_as_failed_delivery_with_the_error():
    failures: list[DeliveryFailure] = []
    calls: list[float] = []

    def flaky(event: DomainEvent) -> None:
        calls.append(time.monotonic())
        raise ValueError("room 204 has no key encoder")

    bus = EventBus(retry=RetryPolicy(attempts=3, first_delay=0.05), on_failure=failures.append)
    try:
        bus.subscribe(BookingUpdated, flaky)
        publication = bus.publish(updated(7), event_id=42)
        assert publication.wait(5)
    finally:
        bus.close()

    assert len(calls) == 3
    first_gap, second_gap = calls[1] - calls[0], calls[2] - calls[1]
    assert first_gap >= 0.05
    assert second_gap >= 0.1  # exponential: the delay doubles
    assert len(failures) == 1
    failure = failures[0]
    assert failure.event == updated(7)
    assert failure.event_id == 42
    assert failure.attempts == 3
    assert failure.handler.endswith("flaky")
    assert "ValueError: room 204 has no key encoder" in failure.error


def test_handler_that_recovers_on_a_retry_is_not_recorded_as_failed():
    failures: list[DeliveryFailure] = []
    tries: list[DomainEvent] = []

    def recovers(event: DomainEvent) -> None:
        tries.append(event)
        if len(tries) < 2:
            raise ConnectionError("lock server busy")

    bus = EventBus(retry=FAST_RETRY, on_failure=failures.append)
    try:
        bus.subscribe(BookingUpdated, recovers)
        bus.publish(updated(1))
        assert bus.drain(5)
    finally:
        bus.close()
    assert len(tries) == 2
    assert failures == []


def test_retries_of_one_handler_do_not_hold_up_another_handler():
    slow_retry = EventBus(retry=RetryPolicy(attempts=3, first_delay=1.0), workers=2)
    healthy = Recorder()
    try:
        slow_retry.subscribe(BookingUpdated, always_fails)
        slow_retry.subscribe(BookingUpdated, healthy)
        started = time.monotonic()
        for n in range(1, 6):
            slow_retry.publish(updated(n))
        while len(healthy.events) < 5 and time.monotonic() - started < 5:
            time.sleep(0.005)
        elapsed = time.monotonic() - started
    finally:
        slow_retry.close(timeout=0)
    assert [e.booking_id for e in healthy.events] == [1, 2, 3, 4, 5]
    assert elapsed < 0.5  # the failing handler is waiting 1 s between tries meanwhile


def test_each_handler_sees_events_in_publish_order_even_across_retries(bus):
    seen: list[int] = []
    failed_once: set[int] = set()

    def fails_first_time_on_two(event: Any) -> None:
        if event.booking_id == 2 and 2 not in failed_once:
            failed_once.add(2)
            raise RuntimeError("transient")
        seen.append(event.booking_id)

    bus.subscribe(BookingUpdated, fails_first_time_on_two)
    for n in range(1, 21):
        bus.publish(updated(n))
    assert bus.drain(5)
    assert seen == list(range(1, 21))


def test_publish_returns_at_once_while_a_handler_is_slow(bus):
    release = threading.Event()
    bus.subscribe(BookingUpdated, lambda event: release.wait(5))
    started = time.monotonic()
    publication = bus.publish(updated(1))
    assert time.monotonic() - started < 0.1
    assert not publication.done
    release.set()
    assert publication.wait(5)


def test_drain_reports_a_timeout_when_a_handler_is_stuck(bus):
    release = threading.Event()
    bus.subscribe(BookingUpdated, lambda event: release.wait(5))
    bus.publish(updated(1))
    assert bus.drain(0.1) is False
    release.set()
    assert bus.drain(5) is True


def test_wildcard_receives_every_type_and_a_handler_on_both_gets_each_event_once(bus):
    everything, both = Recorder(), Recorder()
    bus.subscribe(ANY, everything)
    bus.subscribe(ANY, both)
    bus.subscribe(BookingCancelled, both)

    bus.publish(updated(1))
    bus.publish(BookingCancelled(hotel_id=1, booking_id=2))
    assert bus.drain(5)

    assert [e.name for e in everything.events] == ["booking.updated", "booking.cancelled"]
    assert [e.name for e in both.events] == ["booking.updated", "booking.cancelled"]


def test_handlers_get_only_the_types_they_subscribed_to(bus):
    created = Recorder()
    bus.subscribe("booking.created", created)
    bus.publish(updated(1))
    bus.publish(
        BookingCreated(
            hotel_id=1,
            booking_id=3,
            confirmation_code="A1",
            check_in=dt.date(2030, 1, 1),
            check_out=dt.date(2030, 1, 2),
        )
    )
    assert bus.drain(5)
    assert [e.name for e in created.events] == ["booking.created"]


def test_handler_can_read_the_outbox_id_of_the_event_it_handles(bus):
    recorder = Recorder()
    bus.subscribe(BookingUpdated, recorder)
    bus.publish(updated(1), event_id=501)
    bus.publish(updated(2))
    assert bus.drain(5)
    assert recorder.ids == [501, None]
    assert current_event_id() is None


def test_listener_counts_follow_subscribe_and_unsubscribe_by_class_or_name(bus):
    first, second = Recorder(), Recorder()
    bus.subscribe(BookingUpdated, first)
    bus.subscribe("booking.updated", second)
    bus.subscribe("booking.updated", second)  # twice is once
    bus.subscribe(ANY, first)

    assert bus.listener_count(BookingUpdated) == 2
    assert bus.listener_count("booking.updated") == 2
    assert bus.listener_count(ANY) == 1
    assert bus.listener_count(BookingCancelled) == 0

    assert bus.unsubscribe("booking.updated", first) is True
    assert bus.unsubscribe(BookingUpdated, first) is False
    assert bus.listener_count(BookingUpdated) == 1

    bus.publish(updated(9))
    assert bus.drain(5)
    assert [e.booking_id for e in second.events] == [9]
    assert [e.booking_id for e in first.events] == [9]  # still through the wildcard


def test_unknown_event_names_are_refused_rather_than_silently_never_delivered(bus):
    with pytest.raises(ValueError, match=r"booking\.upated"):
        bus.subscribe("booking.upated", Recorder())
    with pytest.raises(ValueError):
        bus.subscribe(DomainEvent, Recorder())


def test_a_warning_is_logged_once_past_fifty_listeners_of_a_type(bus, caplog):
    handlers = [Recorder() for _ in range(52)]
    with caplog.at_level(logging.WARNING, logger="core.events.bus"):
        for handler in handlers[:50]:
            bus.subscribe(BookingUpdated, handler)
        assert caplog.records == []
        bus.subscribe(BookingUpdated, handlers[50])
        bus.subscribe(BookingUpdated, handlers[51])
    warnings = [r for r in caplog.records if "booking.updated" in r.getMessage()]
    assert len(warnings) == 1
    assert "51 handlers" in warnings[0].getMessage()
    assert bus.listener_count(BookingUpdated) == 52  # bounded by a warning, not a refusal


def test_a_failure_sink_that_raises_is_contained_and_later_events_still_flow():
    def broken_sink(failure: DeliveryFailure) -> None:
        raise OSError("disk full")

    healthy = Recorder()
    bus = EventBus(retry=RetryPolicy(attempts=1, first_delay=0.01), on_failure=broken_sink)
    try:
        bus.subscribe(BookingUpdated, always_fails)
        bus.subscribe(BookingUpdated, healthy)
        bus.publish(updated(1))
        bus.publish(updated(2))
        assert bus.drain(5)
    finally:
        bus.close()
    assert [e.booking_id for e in healthy.events] == [1, 2]


def test_exceptions_are_logged_with_the_handler_and_event(caplog):
    bus = EventBus(retry=RetryPolicy(attempts=2, first_delay=0.01))
    try:
        bus.subscribe(BookingUpdated, always_fails)
        with caplog.at_level(logging.WARNING, logger="core.events.bus"):
            bus.publish(updated(3))
            assert bus.drain(5)
    finally:
        bus.close()
    messages = [r.getMessage() for r in caplog.records]
    assert any("always_fails" in m and "try 1 of 2" in m for m in messages)
    assert any("gave up on booking.updated" in m and "printer offline for booking 3" in m for m in messages)


def test_a_closed_bus_refuses_new_events():
    bus = EventBus()
    bus.close()
    with pytest.raises(RuntimeError):
        bus.publish(updated(1))
