"""When a parcel should arrive: the tracking service's prediction when there is one (Shipment.eta,
Kuaidi100 resultv2=8, shared/channels/shipping.md §3), else shipped time + days in transit.

Days in transit come from the editable TransitTime table (most specific row wins: carrier + origin,
carrier, origin, any), else a built-in estimate: same province 1 day, a neighbouring province 2,
Xinjiang, Tibet, Hong Kong, Macau and Taiwan 5, other remote provinces (Qinghai, Inner Mongolia,
Ningxia, Gansu, Hainan) 4, anywhere else 3. The built-in numbers are an inference from carriers'
published 时效 ranges (u): ops should correct them per carrier in the table."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.utils import timezone

from rules.regions import normalize_province

_NEIGHBOURS_SHORT: dict[str, tuple[str, ...]] = {
    "北京": ("天津", "河北"),
    "天津": ("北京", "河北"),
    "河北": ("北京", "天津", "山西", "内蒙古", "辽宁", "山东", "河南"),
    "山西": ("河北", "内蒙古", "陕西", "河南"),
    "内蒙古": ("黑龙江", "吉林", "辽宁", "河北", "山西", "陕西", "宁夏", "甘肃"),
    "辽宁": ("吉林", "内蒙古", "河北"),
    "吉林": ("黑龙江", "辽宁", "内蒙古"),
    "黑龙江": ("吉林", "内蒙古"),
    "上海": ("江苏", "浙江"),
    "江苏": ("上海", "浙江", "安徽", "山东"),
    "浙江": ("上海", "江苏", "安徽", "江西", "福建"),
    "安徽": ("江苏", "浙江", "江西", "湖北", "河南", "山东"),
    "福建": ("浙江", "江西", "广东"),
    "江西": ("浙江", "安徽", "湖北", "湖南", "广东", "福建"),
    "山东": ("河北", "河南", "安徽", "江苏"),
    "河南": ("河北", "山西", "陕西", "湖北", "安徽", "山东"),
    "湖北": ("河南", "安徽", "江西", "湖南", "重庆", "陕西"),
    "湖南": ("湖北", "江西", "广东", "广西", "贵州", "重庆"),
    "广东": ("福建", "江西", "湖南", "广西", "海南", "香港", "澳门"),
    "广西": ("广东", "湖南", "贵州", "云南"),
    "海南": ("广东",),
    "重庆": ("四川", "贵州", "湖南", "湖北", "陕西"),
    "四川": ("重庆", "贵州", "云南", "西藏", "青海", "甘肃", "陕西"),
    "贵州": ("四川", "重庆", "湖南", "广西", "云南"),
    "云南": ("四川", "贵州", "广西", "西藏"),
    "西藏": ("新疆", "青海", "四川", "云南"),
    "陕西": ("山西", "内蒙古", "宁夏", "甘肃", "四川", "重庆", "湖北", "河南"),
    "甘肃": ("陕西", "宁夏", "内蒙古", "新疆", "青海", "四川"),
    "青海": ("甘肃", "新疆", "西藏", "四川"),
    "宁夏": ("内蒙古", "甘肃", "陕西"),
    "新疆": ("甘肃", "青海", "西藏"),
    "香港": ("广东",),
    "澳门": ("广东",),
}
_FARTHEST = {normalize_province(p) for p in ("新疆", "西藏", "香港", "澳门", "台湾")}
_REMOTE = {normalize_province(p) for p in ("青海", "内蒙古", "宁夏", "甘肃", "海南")}

NEIGHBOURS: dict[str, set[str]] = {}
for _short, _others in _NEIGHBOURS_SHORT.items():
    for _other in _others:
        NEIGHBOURS.setdefault(normalize_province(_short), set()).add(normalize_province(_other))
        NEIGHBOURS.setdefault(normalize_province(_other), set()).add(normalize_province(_short))


def default_transit_days(*, origin: str, destination: str) -> int:
    """The built-in estimate (u) for a route, by province names in any common form."""
    origin, destination = normalize_province(origin or ""), normalize_province(destination or "")
    if destination in _FARTHEST:
        return 5
    if destination in _REMOTE:
        return 4
    if origin and origin == destination:
        return 1
    if origin and destination in NEIGHBOURS.get(origin, set()):
        return 2
    return 3


def transit_days(*, carrier_id: int | None, origin: str, destination: str) -> int:
    from shipping.models import TransitTime

    origin, destination = normalize_province(origin or ""), normalize_province(destination or "")
    rows = {
        (row.carrier_id, row.origin_province): row.days
        for row in TransitTime.objects.filter(destination_province=destination)
    }
    for key in ((carrier_id, origin), (carrier_id, ""), (None, origin), (None, "")):
        if key in rows:
            return rows[key]
    return default_transit_days(origin=origin, destination=destination)


def estimate_delivery(*, shipment, order) -> date | None:
    """The day `shipment` (carrying `order`) should arrive; None before it has left."""
    if shipment is None:
        return None
    if shipment.eta:
        return timezone.localdate(shipment.eta)
    shipped: datetime | None = shipment.shipped_at
    if shipped is None:
        return None
    origin = shipment.account.sender_province if shipment.account_id else ""
    days = transit_days(carrier_id=shipment.carrier_id, origin=origin, destination=order.receiver_province)
    return timezone.localdate(shipped) + timedelta(days=days)
