"""A terminal in its own process for the relay tests: runs an EventRelay and prints what it receives.

Run with the project root on PYTHONPATH. The runtime-role database URL comes from
FRONTDESK_RELAY_CHILD_URL (not the command line, where other users could read the password).
Output, one JSON object a line:
    {"ready": true, "position": [txid, event_id]}    listening and caught up
    {"event_id": 17, "name": "booking.updated", "booking_id": 3, "t_ns": ...}   one per handled event
    {"stopped": true}                                after SIGTERM, once the relay has stopped
``--hang-on-booking N`` makes the handler print event N and then block forever (a crash mid-handler).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from core.db.engine import create_app_engine
from core.events.bus import ANY, EventBus, current_event_id
from core.events.catalog import DomainEvent
from core.events.relay import EventRelay

URL_VARIABLE = "FRONTDESK_RELAY_CHILD_URL"
_print_lock = threading.Lock()


def emit(line: dict[str, Any]) -> None:
    with _print_lock:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def printing_handler(hang_on_booking: int | None) -> Callable[[DomainEvent], None]:
    def handle(event: DomainEvent) -> None:
        booking_id = getattr(event, "booking_id", None)
        emit({"event_id": current_event_id(), "name": event.name, "booking_id": booking_id, "t_ns": time.time_ns()})
        if hang_on_booking is not None and booking_id == hang_on_booking:
            threading.Event().wait()

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hotel", type=int, required=True)
    parser.add_argument("--consumer")
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--hang-on-booking", type=int)
    args = parser.parse_args()

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    engine = create_app_engine(os.environ[URL_VARIABLE])
    bus = EventBus()
    bus.subscribe(ANY, printing_handler(args.hang_on_booking))
    relay = EventRelay(engine, args.hotel, bus, consumer=args.consumer, poll_interval=args.poll)
    relay.start()
    if not relay.wait_ready(20):
        emit({"error": "relay not ready"})
        sys.exit(1)
    position = relay.position
    emit({"ready": True, "position": [position.last.txid, position.last.event_id] if position else None})
    stop.wait()
    relay.stop()
    bus.close(timeout=2)
    engine.dispose()
    emit({"stopped": True})


if __name__ == "__main__":
    main()
