"""`manage.py demo`: admin user, demo data, then web server + django-q2 cluster + webhook inbox drainer +
platform emulator.

Runs until Ctrl-C, which stops them all."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from orderhub import demo


class Command(BaseCommand):
    help = "Run OrderHub with demo data: web server, task workers and the local marketplace emulator."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--emulator-port", type=int, default=9100)
        parser.add_argument("--no-serve", action="store_true", help="load data and exit (used by tests)")

    def handle(self, *args, host: str, port: int, emulator_port: int, no_serve: bool, **options):
        self._ensure_admin()
        for signum in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
            signal.signal(signum, _interrupt)
        emulator_url = f"http://{host}:{emulator_port}"
        processes: list[subprocess.Popen] = []
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        try:
            if not no_serve:
                processes.append(
                    self._start("emulator", [*manage, "channel_emulator", "--host", host, "--port", str(emulator_port)])
                )
                self._wait_for(f"{emulator_url}/_emulator/health", "emulator")
                _point_tracking_at_the_emulator(emulator_url, f"http://{host}:{port}")
            summary = demo.load(emulator_url=emulator_url, register_with_emulator=not no_serve)
            self.stdout.write(self.style.SUCCESS(summary))
            if no_serve:
                return
            processes.append(self._start("worker", [*manage, "qcluster"]))
            # decides the webhook inbox's order pushes (docs/channels.md); more: run more drain_inbox
            processes.append(self._start("inbox drainer", [*manage, "drain_inbox"]))
            processes.extend(self._start_print_components(manage))
            processes.append(self._start("web", [*manage, "runserver", f"{host}:{port}", "--noreload"]))
            self._wait_for(f"http://{host}:{port}/healthz", "web server")
            self.stdout.write(
                self.style.SUCCESS(
                    f"\nOrderHub is running:\n"
                    f"  admin        http://{host}:{port}/admin/   (user: admin)\n"
                    f"  API docs     http://{host}:{port}/api/docs/\n"
                    f"  health       http://{host}:{port}/healthz\n"
                    f"  emulator     {emulator_url}/\n"
                    f"  printing     stand-in print components: Cainiao 13528, PDD 5000, Douyin 13888, Kuaishou 16888\n"
                    f"  simulate     .venv/bin/python manage.py simulate_orders --channel 1 --count 200\n"
                    f"Press Ctrl-C to stop.\n"
                )
            )
            while all(p.poll() is None for p in processes):
                time.sleep(0.5)
            failed = [p for p in processes if p.poll() is not None]
            self.stderr.write(f"a process stopped (exit {failed[0].returncode}); shutting down")
        except KeyboardInterrupt:
            self.stdout.write("\nstopping…")
        finally:
            # each child leads its own process group: the task cluster's sentinel and workers go with
            # it, and nothing outlives the demo (a plain terminate() left the cluster's workers running)
            for process in processes:
                _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                _signal_group(process, signal.SIGKILL)  # whatever of its group is left

    def _start_print_components(self, manage: list[str]) -> list[subprocess.Popen]:
        """Stand-ins for the marketplaces' local print components on their own ports, so the print
        page can print; a port already taken (the real component runs here) is left to it. JD's
        component has no stand-in: its batches show the "print component not found" state."""
        from shipping.management.commands.print_component_emulator import DEFAULT_PORTS

        started = []
        for component, port in DEFAULT_PORTS.items():
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    self.stdout.write(f"port {port} is in use: using the {component} print component found there")
                    continue
            command = [*manage, "print_component_emulator", "--component", component, "--port", str(port)]
            started.append(self._start(f"{component} print component", command))
        return started

    def _ensure_admin(self) -> None:
        from django.contrib.auth.models import Group

        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is not None:
            self.stdout.write("admin user exists; its password is unchanged")
        else:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@example.com", password)
            shown = "(from ADMIN_PASSWORD)" if os.environ.get("ADMIN_PASSWORD") else password
            self.stdout.write(self.style.WARNING(f"created admin user 'admin' with password: {shown}  (shown once)"))
        # the demo's one user plays every role, so "My exceptions" shows every team's to-dos
        admin.groups.add(*Group.objects.all())

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        self.stdout.write(f"starting {name}: {' '.join(command[1:])}")
        # its own session: a Ctrl-C in the terminal reaches the demo alone, which stops the children
        # in order (the cluster first finishes its tasks) instead of all at once
        return subprocess.Popen(command, cwd=settings.BASE_DIR, start_new_session=True)  # noqa: S603 — our manage.py

    def _wait_for(self, url: str, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 — a local http URL we built
                    return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"{what} did not answer at {url} within {timeout:.0f} s")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the process group a child leads (it was started in its own session)."""
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signum)


def _point_tracking_at_the_emulator(emulator_url: str, web_url: str) -> None:
    """The worker and web server started below inherit these: both tracking services are the
    emulator's (its default accounts), unless the environment already names real ones."""
    import requests

    demo_env = {
        "TRACKING_CALLBACK_BASE_URL": web_url,
        "KUAIDI100_CUSTOMER": "emulator-customer",
        "KUAIDI100_KEY": "emulator-key",
        "KUAIDI100_SALT": "demo-salt",
        "KUAIDI100_SUBSCRIBE_URL": f"{emulator_url}/kuaidi100/poll",
        "KUAIDI100_QUERY_URL": f"{emulator_url}/kuaidi100/poll/query.do",
        "KUAIDINIAO_EBUSINESS_ID": "1000001",
        "KUAIDINIAO_APP_KEY": "emulator-app-key",
        "KUAIDINIAO_URL": f"{emulator_url}/kuaidiniao/Ebusiness/EbusinessOrderHandle.aspx",
    }
    for name, value in demo_env.items():
        os.environ.setdefault(name, value)
    # Kuaidiniao's push URL is registered in its console: the emulator's console is this call
    requests.post(
        f"{emulator_url}/_emulator/tracking/accounts",
        json={
            "service": "kuaidiniao",
            "callback_url": f"{os.environ['TRACKING_CALLBACK_BASE_URL']}/api/v1/tracking/kuaidiniao/callback",
        },
        timeout=10,
    )
