"""The machine and server a run measured on, so figures can be compared."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from typing import Any

import psycopg

from bench.dataset import server_url


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as info:
            kb = int(next(line for line in info if line.startswith("MemTotal")).split()[1])
            return round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        return None


def _server() -> dict[str, Any]:
    url = server_url().set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name IN"
                " ('shared_buffers', 'work_mem', 'effective_cache_size', 'synchronous_commit', 'fsync', 'jit',"
                " 'max_connections')"
            ).fetchall()
        )
        return {"version": conn.execute("SHOW server_version").fetchone()[0], "settings": settings}  # type: ignore[index]


def load() -> dict[str, float]:
    one, five, fifteen = os.getloadavg()
    return {"load_1min": round(one, 2), "load_5min": round(five, 2), "load_15min": round(fifteen, 2)}


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "psycopg": version("psycopg"),
        "sqlalchemy": version("sqlalchemy"),
        "postgresql": _server(),
        **load(),
    }
