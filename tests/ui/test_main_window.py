"""The main window loads its overview on a worker thread and shows failures instead of freezing."""

from __future__ import annotations

import threading

from desk_app.main_window import SECTIONS, MainWindow


def test_overview_is_loaded_off_the_gui_thread_and_shown(qtbot):
    gui_thread = threading.get_ident()
    seen_threads: list[int] = []

    def load() -> str:
        seen_threads.append(threading.get_ident())
        return "2 hotel(s): Aurora, Borealis"

    window = MainWindow(where="test database", load_overview=load)
    qtbot.addWidget(window)
    window.refresh()
    qtbot.waitUntil(lambda: window.overview.text() == "2 hotel(s): Aurora, Borealis", timeout=5000)
    assert seen_threads and seen_threads[0] != gui_thread
    assert window.statusBar().currentMessage() == "Connected to test database"
    assert [window.navigation.item(i).text() for i in range(window.navigation.count())] == list(SECTIONS)


def test_a_failing_load_is_reported_in_the_window(qtbot):
    def load() -> str:
        raise ConnectionError("server closed the connection")

    window = MainWindow(where="test database", load_overview=load)
    qtbot.addWidget(window)
    window.refresh()
    qtbot.waitUntil(lambda: "server closed the connection" in window.overview.text(), timeout=5000)
    assert window.overview.text().startswith("Could not load the overview")
