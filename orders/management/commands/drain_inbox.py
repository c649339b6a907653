"""`manage.py drain_inbox [--batch N] [--once]`: decide the webhook inbox's order pushes in batches.

Run as many as wanted, on as many machines as share the database; SIGTERM or Ctrl-C lets the
current batch finish, then the drainer exits."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from orders import inbox


class Command(BaseCommand):
    help = "Drain the webhook inbox: decide accepted order pushes in batches (run several to share the load)."

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=settings.WEBHOOK_INBOX_BATCH, help="messages per batch")
        parser.add_argument("--once", action="store_true", help="drain until the inbox is empty, then exit")

    def handle(self, *args, batch: int, once: bool, **options):
        stopping: list[int] = []

        def _stop(signum, frame):
            stopping.append(signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _stop)
        verbose = options["verbosity"] > 1
        inbox.decide_with_async_commit()
        if not once:  # a long-running drainer; `--once` (tests, one-off runs) leaves its process as it is
            inbox.tune_gc_for_draining()
        self.stdout.write(f"draining the webhook inbox in batches of {batch} as {inbox.drainer_name()}")
        total = inbox.drain(
            batch=max(1, batch),
            stop=lambda: bool(stopping),
            once=once,
            on_batch=(lambda r: self.stdout.write(f"batch: {r.decided} decided, {r.quarantined} quarantined"))
            if verbose
            else None,
        )
        self.stdout.write(f"drainer stopped: {total.decided} decided, {total.quarantined} quarantined")
