"""Start the Qt application on an open database."""

from __future__ import annotations

import gc
import logging
import sys
import time

from PySide6.QtCore import QThreadPool, QTimer
from PySide6.QtWidgets import QApplication

from core.db.connect import Connection
from core.services import directory
from desk_app.main_window import MainWindow

log = logging.getLogger(__name__)


def overview_text() -> str:
    hotels = directory.list_hotels()
    names = ", ".join(h.name for h in hotels) or "no hotel yet"
    return f"FrontDesk is ready.\n{len(hotels)} hotel(s): {names}"


def run_app(database: Connection, *, quit_after: float | None = None, started: float | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("FrontDesk")
    app.setApplicationName("FrontDesk")
    window = MainWindow(where=database.where, load_overview=overview_text)
    window.show()
    # Start-up's objects (Qt bindings, SQLAlchemy's mappings and compiled statements) live as long as the
    # app: kept out of the collector's full passes, which otherwise stall a busy screen for tens of ms.
    gc.freeze()
    window.refresh()
    if started is not None:
        log.info("window open %.2fs after start", time.perf_counter() - started)
        print(f"Window open after {time.perf_counter() - started:.2f}s ({database.where}).", flush=True)
    if quit_after is not None:
        QTimer.singleShot(int(quit_after * 1000), app.quit)
    code = int(app.exec())
    QThreadPool.globalInstance().waitForDone(10_000)  # let running database calls finish before teardown
    return code
