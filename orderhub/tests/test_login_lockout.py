"""Admin sign-in is locked after repeated failures (issue 14, finding 5: 50 wrong passwords in 13 s,
then the right one worked). django-axes counts failures per account and per client address."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"


def sign_in(client: Client, password: str, *, address: str = "198.51.100.20", username: str = "ops", **extra):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


@pytest.fixture
def ops():
    return User.objects.create_superuser("ops", password="right-horse-battery")


def test_after_five_wrong_passwords_even_the_right_one_is_refused_with_a_clear_message(ops):
    client = Client()
    for _ in range(4):
        assert sign_in(client, "wrong").status_code == 200  # the login form again, with its error
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429
    right = sign_in(client, "right-horse-battery")
    assert right.status_code == 429
    text = right.content.decode()
    assert "Sign-in locked" in text
    assert "after 5 failed attempts" in text
    assert "Try again in 15 minutes" in text
    assert int(right["Retry-After"]) == 15 * 60
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_speaks_the_users_language(ops):
    client = Client()
    for _ in range(5):
        sign_in(client, "wrong")
    page = sign_in(client, "right-horse-battery", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "登录已锁定" in page


def test_many_accounts_from_one_address_and_one_account_from_many_addresses_are_both_locked(ops):
    User.objects.create_user("clerk", password="clerk-password-1")
    for n in range(5):
        sign_in(Client(), "wrong", username=f"nobody{n}", address="198.51.100.30")
    assert sign_in(Client(), "clerk-password-1", username="clerk", address="198.51.100.30").status_code == 429
    for n in range(5):
        sign_in(Client(), "wrong", address=f"203.0.113.{n}")
    assert sign_in(Client(), "right-horse-battery", address="203.0.113.99").status_code == 429


def test_fewer_failures_than_the_limit_then_the_right_password_signs_in(ops):
    client = Client()
    for _ in range(3):
        sign_in(client, "wrong")
    response = sign_in(client, "right-horse-battery")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(ops.pk)
