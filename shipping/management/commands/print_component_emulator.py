"""`manage.py print_component_emulator`: a stand-in for a marketplace's local print component, so the
print page can be tried without the real program (development and demo only; it prints nothing)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

DEFAULT_PORTS = {"cainiao": 13528, "pdd": 5000, "douyin": 13888, "kuaishou": 16888}


class Command(BaseCommand):
    help = "Run a stand-in print component (Cainiao-style WebSocket frames) that reports every label printed."

    def add_arguments(self, parser):
        parser.add_argument("--component", choices=sorted(DEFAULT_PORTS), default="cainiao")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, help="default: the component's own port (Cainiao 13528)")

    def handle(self, *args, component: str, host: str, port: int | None, **options):
        try:
            from shipping.print_component_emulator import PrintComponentEmulator
        except ImportError as exc:  # websockets is a development requirement
            raise CommandError(
                f"needs the development requirements (pip install -r requirements-dev.txt): {exc}"
            ) from exc
        try:
            emulator = PrintComponentEmulator(host, port or DEFAULT_PORTS[component], component=component)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port or DEFAULT_PORTS[component]}: {exc}") from exc
        self.stdout.write(self.style.SUCCESS(f"{component} print component stand-in listening on {emulator.url}"))
        try:
            emulator.serve_forever()
        except KeyboardInterrupt:
            emulator.stop()
