"""python manage.py backtest_rule <id> --days N: what a rule would have done to recent orders."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from rules.backtest import backtest_rule
from rules.models import InterceptRule


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
        rule = InterceptRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise CommandError(f"No rule with id {rule_id}")
        result = backtest_rule(rule=rule, days=days, sample_size=sample, progress=None if not no_progress else False)
        out = self.stdout
        out.write(f"Rule {rule.pk} “{rule.name}” (v{rule.version}, {rule.get_mode_display()}, {rule.rollout_percent}%)")
        out.write(f"Orders in the last {days} days: {result.total_orders}  (evaluated by {result.method})")
        out.write(f"Matched: {len(result.matched)}   would act on (rollout): {len(result.would_act)}")
        if result.is_hold_rule:
            out.write(
                f"Held by the current rule set: {len(result.held_now)}   "
                f"newly held: {len(result.newly_held)}   no longer held: {len(result.no_longer_held)}"
            )
        for order in result.sample:
            out.write(
                f"  #{order.pk} {order.channel.platform}:{order.external_id} {order.buyer_nick} ¥{order.paid_amount}"
            )
