"""The emulator's e-waybill service, shared by the five platforms' handlers in `orders/emulator.py`.

A marketplace's e-waybill service in miniature (shared/channels/shipping.md §0–§1): each shop is
subscribed to every carrier its platform has a code for, at one branch (网点) with a shipping
address and a quota of numbers (seeded, settable through `POST /_emulator/waybill_quota`). A number
is issued per parcel key (the platform's own idempotency key: Cainiao/PDD package id, JD
`vendorOrderCode`, Douyin order + pack_id, Kuaishou requestId): asking again with the same key
answers the same number, never a second one. Numbers look like the carrier's (SF…, 78…, YT…);
multi-parcel carriers (SF, Deppon, JD) give a second parcel of the same order a parent number.
Cancel gives a number back (refused once the carrier collected it: `POST /_emulator/waybills/collect`).

Every issuance is kept in `issued` (also after a cancel), so `GET /_emulator/waybills` lets a test
assert "exactly one number per parcel". The handlers only translate each platform's request and
response shapes; the decisions (quota, refusals, faults) are made here, in neutral terms.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Any

from orders.channels import common as c
from orders.channels import kuaishou
from orders.channels.base import WaybillErrorCode
from orders.channels.carriers import carrier_for, platform_carriers

DEFAULT_QUOTA = 500
#: fault kinds the get-number calls answer (POST /_emulator/faults)
WAYBILL_FAULT_KINDS = ("quota_exhausted", "unreachable", "partial_failure", "timeout_after_issue")
#: OrderHub carrier -> (prefix, digits after it): numbers shaped like each carrier's
NUMBER_SHAPES = {
    "SF": ("SF", 13),
    "ZTO": ("78", 12),
    "YTO": ("YT", 13),
    "STO": ("77", 11),
    "YUNDA": ("43", 11),
    "JD": ("JDVA", 11),
    "EMS": ("11", 11),
    "POSTB": ("98", 11),
    "JT": ("JT", 13),
    "DEPPON": ("DPK", 12),
}
MULTI_PARCEL_CARRIERS = frozenset({"SF", "DEPPON", "JD"})  # 子母件: child parcels carry a parent number
#: the platform's own words for each refusal (the adapters match these)
REFUSAL_WORDS = {
    WaybillErrorCode.QUOTA_EXHAUSTED: "电子面单余额不足",
    WaybillErrorCode.UNREACHABLE: "收件地址超区/停发，快递无法派送",
    WaybillErrorCode.NOT_SUBSCRIBED: "发货地址未订购该快递公司的电子面单服务",
    WaybillErrorCode.PICKED_UP: "运单已揽收，不能取消",
    WaybillErrorCode.ALREADY_CANCELLED: "运单已取消，请勿重复取消",
    WaybillErrorCode.NOT_FOUND: "运单不存在",
    WaybillErrorCode.BAD_DATA: "收件人手机号不合法",
}
SENDER = {
    "province": "上海市",
    "city": "上海市",
    "district": "浦东新区",
    "town": "张江镇",
    "detail": "科苑路 88 号 3 号楼",
}
TEMPLATES = {
    "taobao": "https://cloudprint.cainiao.com/template/standard/101/{carrier}",
    "pdd": "https://file-link.pinduoduo.com/{carrier}_one",
    "jd": "https://template-content.jd.com/template-oss?tempCode={carrier}_76130",
    "douyin": "https://sf3-ttcdn-tos.pstatp.com/obj/logistic-template/{carrier}_76_130.xml",
    "kuaishou": "https://s2-111386.kwimgs.com/kos/nlav111386/template/{carrier}_76x130.xml",
}


class Refusal(Exception):
    """The service refuses a parcel (or a whole call when `parcel_key` is empty)."""

    def __init__(self, kind: str, parcel_key: str = "", detail: str = ""):
        super().__init__(REFUSAL_WORDS.get(kind, kind) + (f"（{detail}）" if detail else ""))
        self.kind, self.parcel_key = kind, parcel_key


@dataclass
class Branch:
    platform: str
    app_key: str
    carrier: str  # the platform's code
    branch_code: str
    branch_name: str
    quota: int | None
    sender: dict[str, str]
    allocated: int = 0
    cancelled: int = 0


@dataclass
class Parcel:
    """One parcel of a get-number call, read out of the platform's request by its handler."""

    parcel_key: str
    order_ids: list[str]
    province: str = ""
    receiver_complete: bool = True  # name, phone and detail (ciphertext is fine) all present
    template_url: str = ""
    aliases: tuple[str, ...] = ()  # other names a fault may use for it (Douyin: the bare pack_id)
    listing_key: str = ""  # its name in GET /_emulator/waybills (default: parcel_key; Douyin: pack_id)


@dataclass
class Waybill:
    platform: str
    app_key: str
    parcel_key: str
    carrier: str
    branch_code: str
    tracking_number: str
    parent_tracking_number: str
    order_ids: list[str]
    template_url: str
    listing_key: str = ""
    print_data: dict[str, Any] = field(default_factory=dict)
    state: str = "issued"  # issued | cancelled | collected
    issued_at: str = ""


class WaybillDesk:
    """State of the emulated e-waybill services. The caller holds the emulator's lock."""

    def __init__(self) -> None:
        self.branches: dict[tuple[str, str, str, str], Branch] = {}
        self.live: dict[tuple[str, str, str], Waybill] = {}  # (platform, app_key, parcel key)
        self.by_number: dict[tuple[str, str], Waybill] = {}  # (platform, number)
        self.issued: list[Waybill] = []
        self._serial = random.Random().randrange(10**9)

    # subscriptions ------------------------------------------------------------------------------
    def seed_shop(self, platform: str, app_key: str) -> None:
        """Subscribe a new shop to every carrier of its platform at one branch with DEFAULT_QUOTA."""
        if platform not in TEMPLATES:
            return
        for index, (code, name) in enumerate(platform_carriers(platform)):
            branch_code = f"{310115 + index:06d}"
            key = (platform, app_key, code, branch_code)
            if key not in self.branches:
                branch = Branch(
                    platform, app_key, code, branch_code, f"{name}上海浦东张江网点", DEFAULT_QUOTA, dict(SENDER)
                )
                self.branches[key] = branch

    def branches_of(self, platform: str, app_key: str, carrier: str = "") -> list[Branch]:
        return [
            b
            for (p, k, code, _b), b in self.branches.items()
            if p == platform and k == app_key and (not carrier or code == carrier)
        ]

    def set_quota(self, platform: str, app_key: str, carrier: str, branch_code: str, quota: int | None) -> Branch:
        """Set what is left at a branch (a merchant topping up, or running dry); `None`: uncounted."""
        branch = self.branches.get((platform, app_key, carrier, branch_code))
        if branch is None:
            raise KeyError(f"no branch {branch_code} for carrier {carrier} of {platform} shop {app_key}")
        branch.quota = None if quota is None else int(quota)
        return branch

    def branch_for(
        self, platform: str, app_key: str, carrier: str, *, branch_code: str = "", sender: dict[str, str] | None = None
    ) -> Branch:
        """The branch a call numbers from: by its code, or (Cainiao, PDD) by the sender address,
        which must be one the search API returned."""
        for branch in self.branches_of(platform, app_key, carrier):
            if branch_code and branch.branch_code == branch_code:
                return branch
            if not branch_code and sender is not None and _same_place(branch.sender, sender):
                return branch
        raise Refusal(WaybillErrorCode.NOT_SUBSCRIBED)

    # numbers ------------------------------------------------------------------------------------
    def issue(
        self, branch: Branch, parcels: list[Parcel], fired: dict[str, Any], used: set[str], *, atomic: bool
    ) -> tuple[list[Waybill | Refusal], float]:
        """Number `parcels` at `branch`; returns one Waybill or Refusal per parcel and the delay to
        answer with (a `timeout_after_issue` fault). `fired`: the waybill faults of this call by
        kind; the kinds that changed the answer are added to `used`. `atomic` (Cainiao, PDD, JD):
        one refused parcel refuses the whole call (raised, naming the parcel), nothing is issued."""
        if "quota_exhausted" in fired:
            used.add("quota_exhausted")
            raise Refusal(WaybillErrorCode.QUOTA_EXHAUSTED)
        answers: list[Waybill | Refusal | Parcel] = []
        fresh = 0
        for position, parcel in enumerate(parcels):
            existing = self.live.get((branch.platform, branch.app_key, parcel.parcel_key))
            if existing is not None:
                answers.append(existing)
                continue
            refusal = self._refusal(parcel, position, fired, used)
            if refusal is None and branch.quota is not None and branch.quota - fresh <= 0:
                refusal = Refusal(WaybillErrorCode.QUOTA_EXHAUSTED, parcel.parcel_key)
            if refusal is not None and atomic:
                raise refusal
            if refusal is None:
                fresh += 1
            answers.append(refusal if refusal is not None else parcel)
        results = [self._take_number(branch, a) if isinstance(a, Parcel) else a for a in answers]
        timeout = fired.get("timeout_after_issue")
        if timeout:
            used.add("timeout_after_issue")
        return results, (timeout.delay if timeout else 0.0)

    @staticmethod
    def _refusal(parcel: Parcel, position: int, fired: dict[str, Any], used: set[str]) -> Refusal | None:
        unreachable = fired.get("unreachable")
        if unreachable and (not unreachable.province or unreachable.province == parcel.province):
            used.add("unreachable")
            return Refusal(WaybillErrorCode.UNREACHABLE, parcel.parcel_key, parcel.province)
        partial = fired.get("partial_failure")
        names = {parcel.parcel_key, *parcel.aliases}
        if partial and (names & set(partial.parcel_keys) or position in partial.positions):
            used.add("partial_failure")
            return Refusal(partial.code or WaybillErrorCode.BAD_DATA, parcel.parcel_key)
        if not parcel.receiver_complete:
            return Refusal(WaybillErrorCode.BAD_DATA, parcel.parcel_key)
        return None

    def _take_number(self, branch: Branch, parcel: Parcel) -> Waybill:
        carrier = carrier_for(branch.platform, branch.carrier)
        prefix, digits = NUMBER_SHAPES.get(carrier, ("EMU", 12))
        self._serial += 1
        number = f"{prefix}{self._serial % 10**digits:0{digits}d}"
        parent = ""
        if carrier in MULTI_PARCEL_CARRIERS:
            sibling = next(
                (
                    w
                    for w in self.issued
                    if w.platform == branch.platform
                    and w.app_key == branch.app_key
                    and w.carrier == branch.carrier
                    and w.state != "cancelled"
                    and set(w.order_ids) & set(parcel.order_ids)
                ),
                None,
            )
            parent = (sibling.parent_tracking_number or sibling.tracking_number) if sibling else ""
        template = parcel.template_url or TEMPLATES[branch.platform].format(carrier=branch.carrier)
        waybill = Waybill(
            platform=branch.platform,
            app_key=branch.app_key,
            parcel_key=parcel.parcel_key,
            carrier=branch.carrier,
            branch_code=branch.branch_code,
            tracking_number=number,
            parent_tracking_number=parent,
            order_ids=list(parcel.order_ids),
            template_url=template,
            listing_key=parcel.listing_key or parcel.parcel_key,
            issued_at=c.now_shanghai().isoformat(),
        )
        waybill.print_data = encrypted_label(waybill)
        if branch.quota is not None:
            branch.quota -= 1
        branch.allocated += 1
        self.live[(branch.platform, branch.app_key, parcel.parcel_key)] = waybill
        self.by_number[(branch.platform, number)] = waybill
        self.issued.append(waybill)
        return waybill

    def find(self, platform: str, app_key: str, carrier: str, number: str) -> Waybill:
        waybill = self.by_number.get((platform, number))
        if waybill is None or waybill.app_key != app_key or (carrier and waybill.carrier != carrier):
            raise Refusal(WaybillErrorCode.NOT_FOUND, detail=number)
        return waybill

    def cancel(self, platform: str, app_key: str, carrier: str, number: str) -> Waybill:
        """Give a number back: the quota returns; refused after pickup or a second time."""
        waybill = self.find(platform, app_key, carrier, number)
        if waybill.state == "collected":
            raise Refusal(WaybillErrorCode.PICKED_UP, detail=number)
        if waybill.state == "cancelled":
            raise Refusal(WaybillErrorCode.ALREADY_CANCELLED, detail=number)
        waybill.state = "cancelled"
        self.live.pop((platform, app_key, waybill.parcel_key), None)
        branch = self.branches.get((platform, app_key, waybill.carrier, waybill.branch_code))
        if branch is not None:
            branch.cancelled += 1
            if branch.quota is not None:
                branch.quota += 1
        return waybill

    def collect(self, platform: str, number: str) -> Waybill:
        """The carrier picked the parcel up (a control action): cancel is refused from now on."""
        waybill = self.by_number.get((platform, number))
        if waybill is None:
            raise KeyError(f"no waybill {number} on {platform}")
        if waybill.state == "cancelled":
            raise ValueError(f"waybill {number} was cancelled")
        waybill.state = "collected"
        return waybill

    def listing(self, platform: str = "") -> dict[str, Any]:
        """Every number issued, grouped by `<platform>:<parcel key>` (Douyin: its pack_id, which is
        OrderHub's parcel key whenever that fits in 15 characters): introspection for tests."""
        by_key: dict[str, list[str]] = {}
        for waybill in self.issued:
            if not platform or waybill.platform == platform:
                by_key.setdefault(f"{waybill.platform}:{waybill.listing_key}", []).append(waybill.tracking_number)
        rows = [
            {k: v for k, v in asdict(w).items() if k != "print_data"}
            for w in self.issued
            if not platform or w.platform == platform
        ]
        branches = [asdict(b) for b in self.branches.values() if not platform or b.platform == platform]
        return {"by_parcel_key": by_key, "waybills": rows, "branches": branches}

    def reset(self) -> None:
        self.live.clear()
        self.by_number.clear()
        self.issued.clear()
        for branch in self.branches.values():
            branch.quota, branch.allocated, branch.cancelled = DEFAULT_QUOTA, 0, 0


def encrypted_label(waybill: Waybill) -> dict[str, Any]:
    """The label content only the print component can read: AES ciphertext (the emulator's own
    key, derived from the number's platform and shop) and a signature over it."""
    plain = c.compact_json(
        {
            "waybillCode": waybill.tracking_number,
            "parentWaybillCode": waybill.parent_tracking_number,
            "cpCode": waybill.carrier,
            "routingInfo": {"sortation": {"name": "沪A-01"}, "consolidation": {"name": "上海转运中心"}},
            "orders": waybill.order_ids,
        }
    )
    key = base64.b64encode(
        hashlib.md5(f"{waybill.platform}:{waybill.app_key}".encode(), usedforsecurity=False).digest()
    ).decode()
    encrypted = kuaishou.encrypt_push(plain, key)
    return {"encrypted": encrypted, "signature": c.md5_hex(encrypted + key)[:32], "template_url": waybill.template_url}


def carrier_names(platform: str) -> list[tuple[str, str]]:
    """(platform code, name) for the carrier-list APIs, from the README §6 seed table."""
    return platform_carriers(platform)


def _same_place(branch: dict[str, str], sender: dict[str, str]) -> bool:
    keys = ("province", "city", "district", "detail")
    return all(c.text(branch.get(k)).strip() == c.text(sender.get(k)).strip() for k in keys)
