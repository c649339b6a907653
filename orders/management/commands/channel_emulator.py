"""`manage.py channel_emulator`: serve the local marketplace emulator (orders/emulator.py) in the foreground."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orders.emulator import PATHS, PLATFORMS, ChannelEmulator


class Command(BaseCommand):
    help = "Serve fake Taobao/JD/PDD/Douyin/Kuaishou/manual order APIs for demos and load tests."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--seed-orders", type=int, default=0, help="fake orders to create per platform")
        parser.add_argument("--seed", type=int, default=None, help="random seed for reproducible fake orders")
        parser.add_argument(
            "--shop",
            action="append",
            default=[],
            metavar="PLATFORM:APP_KEY:APP_SECRET[:SIGN_SECRET]",
            help="register a shop (repeatable); shops can also be added via POST /_emulator/shops",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        emulator = ChannelEmulator(options["host"], options["port"])
        for spec in options["shop"]:
            parts = spec.split(":")
            if len(parts) < 3:
                raise CommandError(f"--shop wants PLATFORM:APP_KEY:APP_SECRET[:SIGN_SECRET], got {spec!r}")
            emulator.add_shop(parts[0], parts[1], parts[2], sign_secret=parts[3] if len(parts) > 3 else "")
        if options["seed_orders"]:
            for platform in PLATFORMS:
                emulator.generate(platform, options["seed_orders"], seed=options["seed"])
        self.stdout.write(f"channel emulator on {emulator.base_url}")
        for platform, path in PATHS.items():
            self.stdout.write(f"  {platform:<9} api_base_url = {emulator.base_url}{path}")
        self.stdout.write(f"  control: {emulator.base_url}/_emulator/health")
        try:
            emulator.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("stopping")
        finally:
            emulator.server.server_close()
