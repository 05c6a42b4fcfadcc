"""The main window: left navigation and the panel area. Panels arrive with the desk issue; this window
already loads its overview off the GUI thread."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QLabel, QListWidget, QMainWindow, QSplitter, QStackedWidget

from desk_app.ops import ServiceOp

SECTIONS = (
    "Arrivals",
    "In-house",
    "Departures",
    "Room rack",
    "Housekeeping",
    "Guests",
    "Event feed",
    "PMS connections",
    "Audit log",
    "Settings",
)


class MainWindow(QMainWindow):
    def __init__(self, *, where: str, load_overview: Callable[[], str]) -> None:
        super().__init__()
        self.setWindowTitle("FrontDesk")
        self._load_overview = load_overview
        self.navigation = QListWidget()
        self.navigation.addItems(SECTIONS)
        self.navigation.setMaximumWidth(200)
        self.panels = QStackedWidget()
        self.overview = QLabel("Loading…")
        self.overview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.panels.addWidget(self.overview)
        splitter = QSplitter()
        splitter.addWidget(self.navigation)
        splitter.addWidget(self.panels)
        splitter.setStretchFactor(1, 1)
        self.setCentralWidget(splitter)
        self.statusBar().showMessage(f"Connected to {where}")
        self.resize(1100, 700)
        self._restore_geometry()

    def refresh(self) -> ServiceOp:
        return ServiceOp(self, self._load_overview).success(self.overview.setText).failure(self._on_error).run()

    def _on_error(self, error: Exception) -> None:
        self.overview.setText(f"Could not load the overview: {error}")

    def _restore_geometry(self) -> None:
        geometry = QSettings().value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def closeEvent(self, event: QCloseEvent) -> None:
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        super().closeEvent(event)
