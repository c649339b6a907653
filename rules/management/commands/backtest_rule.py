"""python manage.py backtest_rule <id> --days N: what a rule would have done to recent orders.

Runs the same service as the admin's background job (a BacktestRun is recorded), here in the
foreground with a progress bar.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from orders.models import Order
from rules import services
from rules.errors import RulesError
from rules.models import BacktestState


class Command(BaseCommand):
    help = "Backtest an intercept rule over the orders received in the last N days."

    def add_arguments(self, parser):
        parser.add_argument("rule_id", type=int)
        parser.add_argument("--days", type=int, default=7)
        parser.add_argument("--sample", type=int, default=10)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, rule_id: int, days: int, sample: int, no_progress: bool, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        now = timezone.now()
        try:
            run = services.backtest_start(
                rule_id=rule_id, since=now - timedelta(days=days), until=now + timedelta(seconds=1), enqueue=False
            )
        except RulesError as exc:
            raise CommandError(str(exc)) from None
        with tqdm(desc=f"backtest rule {rule_id}", unit="order", disable=no_progress or None) as bar:

            def tick(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            run = services.backtest_execute(run_id=run.pk, on_progress=tick)
        if run.state != BacktestState.DONE:
            raise CommandError(f"Backtest run {run.pk} {run.state}: {run.error}")
        rule = run.rule
        out = self.stdout
        out.write(f"Rule {rule.pk} “{rule.name}” (v{rule.version}, {rule.get_mode_display()}, {rule.rollout_percent}%)")
        out.write(f"Orders in the last {days} days: {run.total_orders}  (evaluated by {run.method})")
        out.write(f"Matched: {run.matched_count}   would act on (rollout): {run.would_act_count}")
        if run.held_now_count is not None:
            out.write(
                f"Held by the current rule set: {run.held_now_count}   "
                f"newly held: {run.newly_held_count}   no longer held: {run.no_longer_held_count}"
            )
        out.write(f"Run {run.pk}: {run.seconds:.2f} s")
        orders = Order.objects.filter(pk__in=run.sample_order_ids[:sample]).select_related("channel").order_by("pk")
        for order in orders:
            out.write(
                f"  #{order.pk} {order.channel.platform}:{order.external_id} {order.buyer_nick} ¥{order.paid_amount}"
            )
