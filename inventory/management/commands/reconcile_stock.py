from django.core.management.base import BaseCommand
from tqdm import tqdm

from inventory.services import reconciliation_run


class Command(BaseCommand):
    help = "Reconcile stock: ledger vs levels, reservations vs orders and levels, channels vs pushed."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (cron, CI)")

    def handle(self, *args, no_progress=False, **options):
        def progress(items, **kwargs):
            return items if no_progress else tqdm(list(items), file=self.stderr._out, **kwargs)

        run = reconciliation_run(trigger="command", progress=progress)
        for diff in run.diffs.select_related("sku", "warehouse", "listing"):
            where = diff.warehouse.code if diff.warehouse else (str(diff.listing) if diff.listing else "")
            sku = diff.sku.code if diff.sku else ""
            self.stdout.write(f"  {diff.kind:12} {sku:16} {where:24} expected {diff.expected} actual {diff.actual}")
        style = self.style.WARNING if run.diff_count else self.style.SUCCESS
        self.stdout.write(style(f"Reconciliation #{run.pk}: {run.diff_count} difference(s)."))
