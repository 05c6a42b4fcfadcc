"""Run core calls off the GUI thread: ``ServiceOp(parent, fn).success(cb).failure(cb).run()``.

``fn`` runs on a pool thread and never touches Qt; its result (or error) comes back to the GUI thread
through a queued signal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.fn = fn
        self.relay = relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as exc:  # every failure goes back to the GUI, none is lost in a thread
            log.info("operation failed: %s", exc)
            self._deliver(self.relay.failed, exc)
        else:
            self._deliver(self.relay.done, result)

    @staticmethod
    def _deliver(signal: Any, value: object) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the window that asked was closed meanwhile; nobody is left to tell
            log.debug("result dropped: its receiver is gone")


class ServiceOp(QObject):
    finished = Signal()

    def __init__(self, parent: QObject, fn: Callable[[], Any], pool: QThreadPool | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._pool = pool or QThreadPool.globalInstance()
        self._relay = _Relay(self)
        self._relay.done.connect(self._finish)
        self._relay.failed.connect(self._fail)
        self._on_success: Callable[[Any], None] = lambda _r: None
        self._on_failure: Callable[[Exception], None] = lambda _e: None

    def success(self, callback: Callable[[Any], None]) -> ServiceOp:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[Exception], None]) -> ServiceOp:
        self._on_failure = callback
        return self

    def run(self) -> ServiceOp:
        self._pool.start(_Job(self._fn, self._relay))
        return self

    def _finish(self, result: object) -> None:
        self._on_success(result)
        self.finished.emit()
        self.deleteLater()

    def _fail(self, error: object) -> None:
        self._on_failure(error if isinstance(error, Exception) else RuntimeError(str(error)))
        self.finished.emit()
        self.deleteLater()
