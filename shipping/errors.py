"""Domain errors of the shipping app. Each carries a stable `code` for the API and the logs and a
message translated when it is raised (the scanner's or the admin user's language)."""

from __future__ import annotations

from django.utils.translation import gettext


class ShippingError(Exception):
    """Base: `code` names the refusal; `field` names the offending input where there is one."""

    code = "shipping_error"

    def __init__(self, message: str, *, code: str = "", field: str = "", data: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.field = field
        self.data = data or {}


class ParcelPlanInvalid(ShippingError):
    """A parcel cannot be made, split or merged as asked (nothing was changed)."""

    code = "parcel_plan_invalid"


class ParcelNotFound(ShippingError):
    """No parcel (or order) answers to the scanned code."""

    code = "not_found"

    def __init__(self, code_scanned: str):
        super().__init__(gettext("No parcel or order answers to the code %(code)s.") % {"code": code_scanned})


class ScanRefused(ShippingError):
    """The parcel exists but must not leave now (order held, cancelled, refunded, not printed …)."""

    code = "scan_refused"


class ScanForbidden(ShippingError):
    """The scanner may not act on this parcel (it belongs to another warehouse)."""

    code = "other_warehouse"


class ScanInputInvalid(ShippingError):
    """The scan lacks something the parcel needs (e.g. the carrier label's number): a 400 on `field`."""

    code = "invalid"


class ItemCheckFailed(ShippingError):
    """Item check (扫描验货): a wrong, extra or missing item."""

    code = "item_check_failed"


class VoidRefused(ShippingError):
    """The number cannot be given back (collected by the carrier, already shipped, …)."""

    code = "void_refused"


class AccountRefreshFailed(ShippingError):
    """The platform could not tell the account's branches and quota."""

    code = "account_refresh_failed"


class PrintRefused(ShippingError):
    """A print result or reprint that does not fit the parcel (other batch, stale number, voided …):
    a 400 on `field` when an input is wrong, else a 409."""

    code = "print_refused"


class WriteBackRefused(ShippingError):
    """A person's write-back action (retry, mark done, change number) was refused."""

    code = "write_back_refused"
