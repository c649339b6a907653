"""The ETA: the tracking service's prediction, else shipped day + days in transit from the editable
table (most specific row wins), else the built-in province estimate."""

from __future__ import annotations

import pytest

from shipping.models import Carrier, TransitTime
from shipping.notices.eta import default_transit_days, transit_days
from shipping.schedules import SCHEDULES, ensure_schedules

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("origin", "destination", "days"),
    [
        ("上海市", "上海", 1),
        ("上海", "浙江省", 2),
        ("广东省", "北京市", 3),
        ("浙江", "新疆维吾尔自治区", 5),
        ("浙江", "西藏", 5),
        ("浙江", "青海省", 4),
        ("", "浙江省", 3),
    ],
)
def test_the_built_in_estimate(origin, destination, days):
    assert default_transit_days(origin=origin, destination=destination) == days


def test_the_most_specific_table_row_wins():
    sf = Carrier.objects.get(code="SF")
    zto = Carrier.objects.get(code="ZTO")
    TransitTime.objects.create(destination_province="新疆维吾尔自治区", days=6)
    TransitTime.objects.create(carrier=sf, destination_province="新疆维吾尔自治区", days=3)
    TransitTime.objects.create(carrier=sf, origin_province="上海市", destination_province="新疆维吾尔自治区", days=2)
    assert transit_days(carrier_id=sf.pk, origin="上海", destination="新疆") == 2
    assert transit_days(carrier_id=sf.pk, origin="浙江", destination="新疆") == 3
    assert transit_days(carrier_id=zto.pk, origin="上海", destination="新疆") == 6
    assert transit_days(carrier_id=zto.pk, origin="上海", destination="西藏") == 5  # no row: built in


def test_a_transit_row_must_name_a_province():
    from django.core.exceptions import ValidationError

    row = TransitTime(destination_province="火星", days=2)
    with pytest.raises(ValidationError):
        row.full_clean()
    row = TransitTime(destination_province="新疆", days=2)
    row.full_clean()
    assert row.destination_province == "新疆维吾尔自治区"


def test_the_schedules_are_registered_once():
    from django_q.models import Schedule

    ensure_schedules()
    ensure_schedules()
    assert Schedule.objects.filter(name__in=SCHEDULES).count() == len(SCHEDULES)
    assert {
        "shipping.tasks.drain_buyer_notices",
        "shipping.tasks.check_ship_by",
    } <= set(Schedule.objects.filter(name__in=SCHEDULES).values_list("func", flat=True))
