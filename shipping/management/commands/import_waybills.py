"""`manage.py import_waybills FILE [--dry-run] [--user NAME]`: a waybill sheet (xlsx or csv) shipped
from the command line through the same service as the admin's import page, with a progress bar."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shipping.resources import SheetInvalid
from shipping.services.waybill_import import waybill_sheet_import, waybill_sheet_rows


class Command(BaseCommand):
    help = (
        "Import a waybill sheet (order, shop, carrier, tracking number, lines): each good row ships its "
        "order like an outbound scan. --dry-run checks every row and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="an .xlsx or .csv file")
        parser.add_argument("--dry-run", action="store_true", help="check every row, ship nothing")
        parser.add_argument("--user", default="", help="import as this user (recorded; needs the import permission)")
        parser.add_argument("--format", choices=["xlsx", "csv"], help="default: from the file's extension")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, file: str, dry_run: bool, user: str, format: str | None, no_progress: bool, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"no such file: {file}")
        file_format = format or ("csv" if path.suffix.lower() == ".csv" else "xlsx")
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no user {user}")
        data = path.read_bytes()
        try:
            total = waybill_sheet_rows(data=data, file_format=file_format)
            with tqdm(total=total, unit="row", file=self.stderr, disable=no_progress) as bar:
                report = waybill_sheet_import(
                    data=data,
                    file_name=path.name,
                    file_format=file_format,
                    dry_run=dry_run,
                    actor=actor,
                    progress=lambda: bar.update(1),
                )
        except SheetInvalid as exc:
            raise CommandError(str(exc)) from exc
        for outcome in report.refused:
            messages = "; ".join(f"{column}: {' '.join(texts)}" for column, texts in (outcome.errors or {}).items())
            self.stdout.write(f"row {outcome.row} ({outcome.order} {outcome.tracking_number}): {messages}")
        verb = "would ship" if dry_run else "shipped"
        summary = f"{report.rows} rows: {verb} {len(report.shipped)}, refused {len(report.refused)}"
        if report.record is not None:
            summary += f" (import #{report.record.pk})"
        self.stdout.write(self.style.SUCCESS(summary) if not report.refused else self.style.WARNING(summary))
