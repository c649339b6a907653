"""Seeded exception types and rules read in the reader's language, not as "中文 / English"; a row a
person renamed keeps its name (issue 12, point 5)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from rules.models import ExceptionType, InterceptRule

pytestmark = pytest.mark.django_db


def test_seeded_type_and_rule_names_follow_the_language():
    out_of_stock = ExceptionType.objects.get(code="out_of_stock")
    discount = InterceptRule.objects.get(code="price_abnormal")
    assert out_of_stock.name == "Out of stock"  # the migration replaced "缺货 / Out of stock"
    with translation.override("zh-hans"):
        assert out_of_stock.label == "缺货"
        assert str(discount) == "价格异常（折扣超过50%）"
    with translation.override("en"):
        assert out_of_stock.label == "Out of stock"
        assert str(discount) == "Discount over 50%"


def test_no_seeded_name_is_stored_in_two_languages():
    names = [
        *ExceptionType.objects.values_list("name", flat=True),
        *InterceptRule.objects.values_list("name", flat=True),
    ]
    assert names and not [name for name in names if " / " in name]


def test_a_renamed_seeded_type_keeps_the_name_a_person_gave_it():
    ExceptionType.objects.filter(code="mergeable").update(name="合并发货")
    with translation.override("en"):
        assert ExceptionType.objects.get(code="mergeable").label == "合并发货"


def test_the_rule_and_type_lists_show_chinese_names_to_a_chinese_reader(client):
    user = get_user_model().objects.create_superuser("lead", "lead@example.com", "pw-lead-12345")
    client.force_login(user)
    zh = {"accept-language": "zh-hans"}
    types = client.get(reverse("admin:rules_exceptiontype_changelist"), headers=zh).content.decode()
    rules = client.get(reverse("admin:rules_interceptrule_changelist"), headers=zh).content.decode()
    assert "揽收超时" in types and "No pickup" not in types
    assert "叠券促销单走促销通道" in rules and "Stacked-coupon" not in rules
