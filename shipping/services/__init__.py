"""Shipping writes, split by operation; this package re-exports the public verbs."""

from shipping.services.accounts import waybill_account_refresh
from shipping.services.numbering import (
    NumberingReport,
    failure_reason,
    number_parcels,
    parcel_print_data_refresh,
    parcel_void_and_reissue,
    waybill_request,
)
from shipping.services.parcels import (
    next_parcel_key,
    parcel_split,
    parcels_create,
    parcels_mark_printed,
    parcels_merge,
)
from shipping.services.scanning import (
    ScanAnswer,
    item_check_progress,
    scan_items,
    scan_outbound,
    scanner_device_create,
    scanner_device_for_token,
    scanner_device_revoke,
)

__all__ = [
    "NumberingReport",
    "ScanAnswer",
    "failure_reason",
    "item_check_progress",
    "next_parcel_key",
    "number_parcels",
    "parcel_print_data_refresh",
    "parcel_split",
    "parcel_void_and_reissue",
    "parcels_create",
    "parcels_mark_printed",
    "parcels_merge",
    "scan_items",
    "scan_outbound",
    "scanner_device_create",
    "scanner_device_for_token",
    "scanner_device_revoke",
    "waybill_account_refresh",
    "waybill_request",
]
