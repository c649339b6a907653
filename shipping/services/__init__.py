"""Shipping writes, split by operation; this package re-exports the public verbs."""

from shipping.schedules import ensure_schedules
from shipping.services.accounts import CarrierLoadReport, carriers_load_from_platform, waybill_account_refresh
from shipping.services.numbering import (
    NumberingReport,
    failure_reason,
    number_parcels,
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
from shipping.services.printing import (
    BatchFill,
    PrintOutcome,
    QueueFill,
    batch_mark_printed_elsewhere,
    print_batches_fill,
    print_queue_fill,
    shipment_record_print_result,
    shipment_refresh_print_data,
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
from shipping.services.writeback import (
    DrainReport,
    shipment_change_tracking_number,
    write_back_mark_done,
    write_back_retry,
    write_backs_drain,
)

__all__ = [
    "BatchFill",
    "CarrierLoadReport",
    "DrainReport",
    "NumberingReport",
    "PrintOutcome",
    "QueueFill",
    "ScanAnswer",
    "batch_mark_printed_elsewhere",
    "carriers_load_from_platform",
    "ensure_schedules",
    "failure_reason",
    "item_check_progress",
    "next_parcel_key",
    "number_parcels",
    "parcel_split",
    "parcel_void_and_reissue",
    "parcels_create",
    "parcels_mark_printed",
    "parcels_merge",
    "print_batches_fill",
    "print_queue_fill",
    "scan_items",
    "scan_outbound",
    "scanner_device_create",
    "scanner_device_for_token",
    "scanner_device_revoke",
    "shipment_change_tracking_number",
    "shipment_record_print_result",
    "shipment_refresh_print_data",
    "waybill_account_refresh",
    "waybill_request",
    "write_back_mark_done",
    "write_back_retry",
    "write_backs_drain",
]
