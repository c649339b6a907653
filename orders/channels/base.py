"""The one interface every marketplace adapter implements, and the neutral order it produces.

Adapters are plain Python: no ORM access. They speak HTTP to `ChannelCredentials.api_base_url`
with `requests`, so the same code runs against the real platform and the local emulator.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from orders.channels.carriers import platform_carriers


# ---- errors ------------------------------------------------------------------------------
class ChannelError(Exception):
    """A platform call failed. `retryable` tells the outbox/pull loop whether to try again."""

    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, code: str = "", sub_code: str = "", payload: Any = None):
        super().__init__(message)
        self.code = str(code)
        self.sub_code = str(sub_code)
        self.payload = payload


class RetryableChannelError(ChannelError):
    """Rate limit, platform-side fault, timeout, HTTP 5xx: try again later with backoff."""

    retryable = True


class PermanentChannelError(ChannelError):
    """Bad credentials, bad arguments, business refusal: retrying cannot help; a person must act."""


class AlreadyDoneError(ChannelError):
    """The platform says the effect already happened (e.g. already shipped): count as success."""


class PayloadError(ValueError):
    """A native payload is malformed. `field` names the offending field for a 400 response.

    `native` (the refused native order) and `external_id` (its id, when readable) are filled in by
    `PlatformAdapter.read_order`, so a pull can quarantine exactly the order that was refused."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.native: Any = None
        self.external_id = ""


class SignatureError(Exception):
    """A pushed message failed authentication (bad/missing signature, undecryptable body)."""


# ---- neutral data ------------------------------------------------------------------------
@dataclass
class NormalizedLine:
    external_line_id: str
    platform_item_id: str
    platform_sku_id: str
    sku_code: str  # merchant's own code (outer id); may be empty
    title: str
    quantity: int
    unit_price: Decimal  # yuan
    discount_amount: Decimal = Decimal("0")  # yuan, this line's share of shop coupons/promotions
    paid_amount: Decimal = Decimal("0")  # yuan
    refund_status: str = ""  # the platform's own after-sale code for this line, kept as sent
    #: the line's after-sale state in OrderHub's vocabulary (orders.models.LineRefundState values)
    refund_state: str = "none"
    #: the platform closed this line (e.g. Taobao line status TRADE_CLOSED): nothing of it ships
    closed: bool = False


@dataclass
class NormalizedOrder:
    """One platform order in OrderHub's vocabulary. Money in Decimal yuan; times aware (Asia/Shanghai)."""

    external_id: str
    platform_status: str  # one of orders.models.PlatformStatus values
    platform_status_raw: str
    buyer_nick: str
    receiver_name: str
    receiver_phone: str
    receiver_province: str
    receiver_city: str
    receiver_district: str
    receiver_address: str
    lines: list[NormalizedLine]
    goods_amount: Decimal
    paid_amount: Decimal
    postage: Decimal = Decimal("0")
    discount_amount: Decimal = Decimal("0")
    coupons: list[dict[str, Any]] = field(default_factory=list)  # {"kind", "name", "amount" (str yuan), "line_id"}
    buyer_message: str = ""
    seller_memo: str = ""
    is_presale: bool = False
    refund_requested: bool = False
    platform_hold: bool = False
    buyer_id: str = ""
    receiver_town: str = ""
    receiver_zip: str = ""
    receiver_masked: bool = False
    receiver_cipher: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    paid_at: datetime | None = None
    modified_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    ship_by: datetime | None = None  # the platform's own ship-by deadline, when it states one
    #: `raw` exactly as the JSON text it was decoded from, when that text was the order alone and
    #: proved safe and short (guard.Decoded): the batch INSERT stores it as it is instead of encoding
    #: `raw` again (that was the largest part of encoding a batch's rows)
    raw_text: str | None = field(default=None, compare=False, repr=False)


@dataclass
class ChannelCredentials:
    """What an adapter needs to call one shop's API; built from orders.models.Channel."""

    platform: str
    app_key: str = ""
    app_secret: str = ""
    access_token: str = ""
    sign_secret: str = ""
    message_key: str = ""
    api_base_url: str = ""
    timeout: float = 10.0


@dataclass
class OrderPage:
    orders: list[NormalizedOrder]
    has_next: bool
    next_page: Any = None  # opaque to callers: pass back to pull_orders(page=...)
    #: orders of this page refused as malformed (each with `.native`): quarantined, never blocking
    rejected: list[PayloadError] = field(default_factory=list)


@dataclass
class PushMessage:
    """A verified platform push: a trigger to re-read `external_id` with the detail API."""

    message_id: str
    topic: str
    external_id: str
    is_heartbeat: bool = False


@dataclass
class ShipPackage:
    """One more parcel of the same order, for platforms that take every number in one call (JD)."""

    tracking_number: str
    carrier_code: str


@dataclass
class ShipRequest:
    """One ship write-back. `line_ids` (the platform's line ids) is set only for a split shipment: the
    parcel carries part of the order, or the order travels in several parcels (README §5)."""

    external_id: str
    tracking_number: str
    carrier_code: str  # the platform's own code for the carrier (shared/channels/README.md §6)
    line_ids: list[str] = field(default_factory=list)
    #: no earlier parcel of this order was written back (PDD: the first parcel uses online.send)
    first: bool = True
    #: further parcels travelling with this one, sent in the same call (JD `|`/`,` groups)
    packages: list[ShipPackage] = field(default_factory=list)
    #: the number the platform holds now, when this request changes a written-back number
    previous_tracking_number: str = ""

    @property
    def split(self) -> bool:
        return bool(self.line_ids)


@dataclass
class StockUpdate:
    platform_item_id: str
    platform_sku_id: str
    quantity: int  # absolute quantity to show; adapters with delta-only APIs compute the delta
    last_pushed: int | None = None


# ---- e-waybills (shared/channels/shipping.md) ----------------------------------------------
class WaybillErrorCode:
    """`ChannelError.code` values every adapter maps its platform's e-waybill refusals to, so the
    shipping app can put a reason in plain words on the order (`waybill_failed`) or raise an alert."""

    QUOTA_EXHAUSTED = "quota_exhausted"  # 电子面单余额不足
    UNREACHABLE = "unreachable"  # 超区/停发: the carrier does not serve the receiver's address
    NOT_SUBSCRIBED = "not_subscribed"  # sender address / branch not subscribed for this carrier
    PICKED_UP = "picked_up"  # cancel refused: the carrier already collected the parcel
    ALREADY_CANCELLED = "already_cancelled"
    NOT_FOUND = "not_found"  # lookup: the platform knows no number for this parcel key / code
    NOT_SUPPORTED = "not_supported"  # the channel has no e-waybill service (manual)
    BAD_DATA = "bad_data"  # address too long, invalid phone, …


@dataclass
class WaybillAddress:
    """A sender or receiver. For marketplace receivers the fields carry the platform's ciphertext
    exactly as the order API returned it (the platform decrypts on its side); `cipher` carries the
    extra ids some platforms want (Taobao `oaid`, the order's encrypted fields)."""

    name: str
    mobile: str
    province: str
    city: str
    district: str
    address: str
    town: str = ""
    cipher: dict[str, str] = field(default_factory=dict)


@dataclass
class WaybillItem:
    name: str
    count: int


@dataclass
class WaybillRequest:
    """One parcel to number. `parcel_key` is stored before the call and sent as the platform's
    request/package id, so repeating the request can never take a second number."""

    parcel_key: str
    external_ids: list[str]  # platform order ids travelling in this parcel (several when merged, 合单)
    carrier_code: str  # the platform's own code for the carrier
    branch_code: str  # 网点 / net site / settlement code of the WaybillAccount
    sender: WaybillAddress
    receiver: WaybillAddress
    items: list[WaybillItem]
    weight_grams: int = 0
    template_url: str = ""


@dataclass
class WaybillResult:
    """The platform's answer for one parcel of a batch: a number and print payload, or `error`."""

    parcel_key: str
    tracking_number: str = ""
    parent_tracking_number: str = ""  # multi-parcel mother number (ship, write back and track this one)
    print_data: dict[str, Any] = field(default_factory=dict)  # encrypted payload as the platform returns it
    error: ChannelError | None = None


@dataclass
class WaybillBranch:
    """A subscribed branch (网点) or monthly account and what is left of its quota."""

    carrier_code: str
    branch_code: str
    branch_name: str
    quota: int | None  # None: the platform does not count (monthly/direct accounts)
    sender: WaybillAddress | None = None


@dataclass
class PlatformCarrier:
    """One entry of a platform's carrier list: the platform's own code and the carrier's name."""

    code: str
    name: str


class ChannelAdapter(abc.ABC):
    """Base class: one subclass per platform module. Subclasses set `platform`."""

    platform: ClassVar[str] = ""
    #: whether pushes arrive as signed HTTP posts that OrderHub can receive (Douyin, Kuaishou)
    http_push: ClassVar[bool] = False

    def __init__(self, credentials: ChannelCredentials):
        self.credentials = credentials

    # signing ------------------------------------------------------------------------------
    @abc.abstractmethod
    def sign(self, params: dict[str, str]) -> str: ...

    # parsing ------------------------------------------------------------------------------
    @abc.abstractmethod
    def parse_order(self, payload: dict[str, Any]) -> NormalizedOrder:
        """Native order JSON (one order, as the detail API returns it or as pushed) -> neutral."""
        ...

    @staticmethod
    def extract_orders(response: dict[str, Any]) -> list[dict[str, Any]]:
        """The native order objects in a list/detail response envelope (or a bare order)."""
        return [response]

    # push ---------------------------------------------------------------------------------
    def verify_push(self, headers: dict[str, str], body: bytes) -> list[PushMessage]:
        """Authenticate a platform-native push; raise SignatureError when it is not genuine."""
        raise SignatureError(f"{self.platform} does not push over HTTP; OrderHub polls it")

    # API calls ----------------------------------------------------------------------------
    @abc.abstractmethod
    def pull_orders(self, *, start: datetime, end: datetime, page: Any = None, page_size: int = 50) -> OrderPage: ...

    @abc.abstractmethod
    def fetch_order(self, external_id: str) -> NormalizedOrder: ...

    @abc.abstractmethod
    def ship(self, request: ShipRequest) -> dict[str, Any]: ...

    #: several parcels of one order go in one ship call (JD) rather than one call per parcel
    ships_packages_together: ClassVar[bool] = False

    def ship_params(self, request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """The API name and business parameters `ship` sends (no credentials: safe to record)."""
        return "ship", {
            "external_id": request.external_id,
            "tracking_number": request.tracking_number,
            "carrier_code": request.carrier_code,
            "line_ids": request.line_ids,
        }

    def shipped_tracking_numbers(self, order: NormalizedOrder) -> set[str]:
        """The tracking numbers the platform shows on a re-read order (`order.raw`): the proof that an
        "already shipped" answer is our shipment and not someone else's."""
        return set()

    def modify_params(self, request: ShipRequest) -> tuple[str, dict[str, Any]]:
        """The platform's call that replaces a written-back tracking number; `PermanentChannelError`
        with code "not_supported" where the platform has none (a person changes it by hand)."""
        raise PermanentChannelError(
            f"{self.platform} has no API to change a tracking number after shipment", code="not_supported"
        )

    def modify_tracking(self, request: ShipRequest) -> dict[str, Any]:
        """Replace `request.previous_tracking_number` with `request.tracking_number` on the platform."""
        raise PermanentChannelError(
            f"{self.platform} has no API to change a tracking number after shipment", code="not_supported"
        )

    @abc.abstractmethod
    def update_stock(self, update: StockUpdate) -> dict[str, Any]: ...

    @abc.abstractmethod
    def fetch_stock(self, platform_item_id: str, platform_sku_id: str) -> int:
        """The quantity the platform shows buyers now for one listing, read with the platform's own
        stock/SKU read API (signed like every other call).

        `platform_item_id` / `platform_sku_id` are the ids `update_stock` pushes to (an empty sku id
        means an item without SKUs where the platform allows that). Used by reconciliation to find
        drift between what OrderHub last pushed and what the storefront shows. Raises
        `RetryableChannelError` for transport/limit trouble and `PermanentChannelError` otherwise,
        including code "not_found" when the platform does not know the SKU."""
        ...

    # e-waybills ------------------------------------------------------------------------------
    #: largest batch the platform's get-number call accepts (shared/channels/shipping.md §1)
    waybill_batch_size: ClassVar[int] = 10

    def waybill_get(self, requests: list[WaybillRequest]) -> list[WaybillResult]:
        """Number up to `waybill_batch_size` parcels in one signed call, one result per request (same
        order). A per-parcel refusal is that result's `error` (a `ChannelError` with a
        `WaybillErrorCode`); a failure of the whole call raises. Same `parcel_key` → same number."""
        raise PermanentChannelError(f"{self.platform} has no e-waybill service", code=WaybillErrorCode.NOT_SUPPORTED)

    def waybill_lookup(self, request: WaybillRequest) -> WaybillResult:
        """After a timeout: the number the platform already issued for `request.parcel_key`, read back
        (or by repeating the call with the same key where that is the platform's idempotency rule).
        Raises `PermanentChannelError(code=NOT_FOUND)` when none was issued."""
        raise PermanentChannelError(f"{self.platform} has no e-waybill service", code=WaybillErrorCode.NOT_SUPPORTED)

    def waybill_cancel(self, *, carrier_code: str, tracking_number: str, branch_code: str = "") -> None:
        """Give a number back. Raises `PermanentChannelError(code=PICKED_UP)` after collection."""
        raise PermanentChannelError(f"{self.platform} has no e-waybill service", code=WaybillErrorCode.NOT_SUPPORTED)

    def waybill_print_data(self, *, carrier_code: str, tracking_number: str) -> dict[str, Any]:
        """Fresh encrypted print data for a reprint (Cainiao query.by.waybillcode, JD pullData,
        Douyin waybillApply; PDD/Kuaishou re-read it the way they allow)."""
        raise PermanentChannelError(f"{self.platform} has no e-waybill service", code=WaybillErrorCode.NOT_SUPPORTED)

    def waybill_branches(self, *, carrier_code: str = "") -> list[WaybillBranch]:
        """Subscribed branches with their remaining quota (search/subscribe APIs)."""
        raise PermanentChannelError(f"{self.platform} has no e-waybill service", code=WaybillErrorCode.NOT_SUPPORTED)

    def carriers(self) -> list[PlatformCarrier]:
        """The platform's carrier list (code, name) through its API where it has one. The default is
        the seed table of shared/channels/README.md §6 (Kuaishou publishes a table, no API); empty
        for a channel with no platform codes (manual)."""
        return [PlatformCarrier(code=code, name=name) for code, name in platform_carriers(self.platform)]
