"""`manage.py simulate_orders`: realistic marketplace traffic through the real HTTP webhook."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from urllib.parse import urlsplit

import requests
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from orders.gateway import SIGNATURE_HEADER, TIMESTAMP_HEADER, webhook_signature
from orders.models import Channel


class Command(BaseCommand):
    help = (
        "Generate realistic native orders for a channel (Chinese names and addresses, several SKUs, coupons, "
        "some missing addresses, unpaid orders, buyer messages, duplicates) and send them signed through "
        "the channel's webhook."
    )

    def add_arguments(self, parser):
        parser.add_argument("--channel", type=int, required=True, help="channel id")
        parser.add_argument("--count", type=int, default=100, help="distinct orders to send")
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--exception-rate", type=float, default=0.1, help="share of orders with a problem")
        parser.add_argument("--duplicate-rate", type=float, default=0.05, help="share of orders sent twice")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="OrderHub base URL")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--ship-share",
            type=float,
            default=0.0,
            help="afterwards, number, print and scan out this share of the channel's ready orders (0 to 1)",
        )

    def handle(self, *args, channel: int, count: int, concurrency: int, exception_rate: float, **options):
        from orders.channels.fakes import generate_orders

        try:
            shop = Channel.objects.get(pk=channel)
        except Channel.DoesNotExist:
            raise CommandError(f"no channel with id {channel}") from None
        if not shop.webhook_secret:
            raise CommandError(f"channel {channel} has no webhook secret: set one in the admin first")
        if count < 1 or concurrency < 1:
            raise CommandError("--count and --concurrency must be at least 1")
        if not 0 <= exception_rate <= 1 or not 0 <= options["duplicate_rate"] <= 1:
            raise CommandError("--exception-rate and --duplicate-rate must be between 0 and 1")
        if not 0 <= options["ship_share"] <= 1:
            raise CommandError("--ship-share must be between 0 and 1")

        rng = random.Random(options["seed"])
        natives = generate_orders(shop.platform, count, seed=rng.randrange(2**32), exception_rate=exception_rate)
        if _tell_the_emulator(shop, natives):
            self.stdout.write("the shop's API is the local emulator: the orders are on the platform there too")
        bodies = [json.dumps(native, ensure_ascii=False).encode() for native in natives]
        sends = list(bodies) + [b for b in bodies if rng.random() < options["duplicate_rate"]]
        rng.shuffle(sends)
        url = f"{options['url'].rstrip('/')}/api/v1/channels/{shop.pk}/webhook"
        local = threading.local()
        tally: Counter[str] = Counter()
        errors: Counter[str] = Counter()

        def send(body: bytes) -> tuple[str, str]:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: webhook_signature(secret=shop.webhook_secret, timestamp=stamp, body=body),
            }
            try:
                response = session.post(url, data=body, headers=headers, timeout=30)
            except requests.RequestException as exc:
                return "failed", type(exc).__name__
            if response.status_code == 202:
                answer = response.json()
                if answer.get("result") == "accepted":  # in the webhook inbox: a drainer decides it
                    return "queued", ""
                return ("accepted" if answer.get("created") else "duplicates"), ""
            return "rejected", f"HTTP {response.status_code}: {response.text[:120]}"

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as pool, tqdm(total=len(sends), unit="order") as bar:
            for future in as_completed([pool.submit(send, body) for body in sends]):
                outcome, error = future.result()
                tally[outcome] += 1
                if error:
                    errors[error] += 1
                bar.update()
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"sent {len(sends)}  accepted {tally['accepted']}  rejected {tally['rejected']}  "
            f"duplicates {tally['duplicates']}  queued for the drainers {tally['queued']}  failed {tally['failed']}  "
            f"{len(sends) / elapsed:.1f} orders/s in {elapsed:.1f} s"
        )
        for error, n in errors.most_common(5):
            self.stderr.write(f"  {n} × {error}")
        if tally["rejected"] or tally["failed"]:
            raise CommandError("some orders were not accepted")
        if options["ship_share"] > 0:
            from shipping.simulation import drive_outbound

            if tally["queued"] and not _drained(shop, timeout=120):
                self.stderr.write("the webhook inbox is not drained yet (is `manage.py drain_inbox` running?)")

            outbound = drive_outbound(channel_id=shop.pk, share=options["ship_share"], base_url=options["url"], rng=rng)
            self.stdout.write(outbound.line())
            for failure, n in outbound.failures.most_common(5):
                self.stderr.write(f"  {n} × {failure}")


def _drained(shop: Channel, *, timeout: float) -> bool:
    """Wait until the drainers decided the shop's pushes: parcels can only be printed for decided orders."""
    from orders.models import InboxMessage

    deadline = time.monotonic() + timeout
    while InboxMessage.objects.undecided().filter(channel=shop).exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _tell_the_emulator(shop: Channel, natives: list[dict]) -> bool:
    """When the shop's API is the local emulator (the demo), put the orders on it as well: the real
    platform knows every order it pushes, and the write-back, tracking and re-reads ask it about them.
    Returns whether the emulator took them; any other API (a real platform) is left alone."""
    from orders.channels.carriers import platform_key

    if not shop.api_base_url:
        return False
    parts = urlsplit(shop.api_base_url)
    root = f"{parts.scheme}://{parts.netloc}"
    try:
        if requests.get(f"{root}/_emulator/health", timeout=2).status_code != 200:
            return False
    except requests.RequestException:
        return False
    body = {"platform": platform_key(shop.platform), "orders": natives, "app_key": shop.app_key}
    response = requests.post(f"{root}/_emulator/orders", json=body, timeout=30)
    if response.status_code != 201:
        raise CommandError(f"the emulator refused the orders: HTTP {response.status_code} {response.text[:200]}")
    return True
