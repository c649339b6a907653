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


class ReturnNotFound(ShippingError):
    """No return (RMA) answers to the scanned reference (API: 404)."""

    code = "not_found"

    def __init__(self, reference: str):
        super().__init__(gettext("No return answers to the reference %(reference)s.") % {"reference": reference})


class ReturnRefused(ShippingError):
    """The return cannot take these goods (closed, cancelled, wrong item, more than expected): a 409,
    nothing stored."""

    code = "return_refused"


class ReturnInvalid(ShippingError):
    """A return cannot be opened as asked (no shipped units left, a line of another order): a 400 on
    `field`, nothing stored."""

    code = "invalid"


class DispatchRefused(ShippingError):
    """An order cannot leave with the waybill given (held, cancelled, already shipped, number taken,
    line not on the order …): nothing was changed. `field` names the sheet column at fault."""

    code = "dispatch_refused"

    def __init__(self, message: str, *, code: str = "", field: str = "order", data: dict | None = None):
        super().__init__(message, code=code, field=field, data=data)


class WriteBackRefused(ShippingError):
    """A person's write-back action (retry, mark done, change number) was refused."""

    code = "write_back_refused"
