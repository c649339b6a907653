"""Django's own admin strings that read badly in Chinese are worded by the project catalogue
(issue 12, point 5): "选择要修改的订单", not "选择 订单 来修改"; "批量操作", not "动作"."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from orders.tests.factories import make_channel

pytestmark = pytest.mark.django_db


def test_a_chinese_change_list_uses_the_consoles_words(client):
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw-lead-12345"))
    make_channel()
    page = client.get(reverse("admin:orders_channel_changelist"), headers={"accept-language": "zh-hans"})
    html = page.content.decode()
    assert "来修改" not in html and "选择要修改的" in html
    assert "批量操作：" in html and "运行选中的动作" not in html
    assert "新增" in html and "增加 " not in html
