"""`make demo` on Ctrl-C: the web server, emulator, print components and the whole task cluster
(its sentinel and workers too) stop, and no process of the demo is left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

from django.conf import settings


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries the marker (every child of the demo inherits it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return condition()


def test_ctrl_c_stops_every_process_of_the_demo(tmp_path):
    marker = f"demo-{uuid.uuid4().hex}"
    port, emulator_port = _free_port(), _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "ADMIN_PASSWORD": "demo-pass-123",
        "ORDERHUB_TEST_MARKER": marker,
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True, timeout=300)
    demo = subprocess.Popen(
        [*manage, "demo", "--host", "127.0.0.1", "--port", str(port), "--emulator-port", str(emulator_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def serving() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return True
            except OSError:
                return False

        assert _wait_until(serving, 180), "the demo never served"
        assert _wait_until(lambda: len(_processes_with(marker)) >= 4, 30)  # demo, emulator, cluster, web …
        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C in a terminal: SIGINT to the whole foreground group
        demo.wait(timeout=60)
        assert _wait_until(lambda: not _processes_with(marker), 20), _processes_with(marker)
    finally:
        for pid in _processes_with(marker):
            os.kill(pid, signal.SIGKILL)
