"""Waybill sheet import outside the admin (the `import_waybills` command): the same resource and the
same dispatch service as the admin page, with a progress callback for large files.

A real import runs each row in its own transaction (the dispatch service's), so a long file neither
holds its orders locked to the end nor loses the rows already shipped when a later row fails; a dry
run runs inside one transaction that is rolled back, like the admin's preview."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shipping.models import WaybillImport
from shipping.resources import RowOutcome, WaybillSheetResource, read_sheet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@dataclass
class WaybillSheetReport:
    rows: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)
    record: WaybillImport | None = None

    @property
    def shipped(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if not o.errors]

    @property
    def refused(self) -> list[RowOutcome]:
        return [o for o in self.outcomes if o.errors]


def waybill_sheet_rows(*, data: bytes, file_format: str) -> int:
    """How many rows the sheet holds (SheetInvalid when it cannot be read): the progress bar's total."""
    return len(read_sheet(data, file_format=file_format))


def waybill_sheet_import(
    *,
    data: bytes,
    file_name: str,
    file_format: str,
    dry_run: bool,
    actor: AbstractBaseUser | None = None,
    progress: Callable[[], None] | None = None,
) -> WaybillSheetReport:
    """Check (dry run) or import a waybill sheet. Raises SheetInvalid for a file that is not a sheet."""
    dataset = read_sheet(data, file_format=file_format)
    resource = WaybillSheetResource(source=WaybillImport.SOURCE_COMMAND, progress=progress)
    result = resource.import_data(
        dataset,
        dry_run=dry_run,
        use_transactions=dry_run,
        raise_errors=False,
        user=actor,
        file_name=file_name,
    )
    outcomes = resource._outcomes(dataset, result)
    return WaybillSheetReport(rows=len(dataset), outcomes=outcomes, record=resource.record)
