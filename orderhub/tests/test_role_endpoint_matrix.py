"""Every API operation in the OpenAPI schema and every admin page, walked with every role.

The schema is generated here with drf-spectacular and the admin pages come from
admin.site._registry, so an endpoint or admin page added later is walked automatically, and the
test fails until its expectations are written in API_ACCESS or ADMIN_ACCESS below.

What each role may do is listed per endpoint: reading answers 200 (masked receiver details unless
the role may see them), writing answers 2xx, anything else 403 (anonymous: 401/403 on the API, a
redirect to the login page in the admin)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from orderhub import roles
from orderhub.tests.world import (
    ANONYMOUS,
    MASKED,
    RECEIVER,
    ROLE_NAMES,
    SUPERUSER,
    World,
    build_world,
    stocked_order,
)
from orders.models import Order

pytestmark = pytest.mark.django_db

V, OPS, W, RA, F, S = roles.VIEWER, roles.OPS, roles.WAREHOUSE, roles.RULE_ADMIN, roles.FINANCE, SUPERUSER
#: roles that see receiver name, phone and street address in full
RECEIVER_ROLES = {OPS, W, S}
ORDER_READERS = {V, OPS, W, RA, F, S}
STOCK_READERS = {V, OPS, W, F, S}
RULE_READERS = {V, OPS, RA, S}
CHANNEL_READERS = {V, OPS, F, S}
SHIPPING_READERS = {V, OPS, W, F, S}
WORKBENCH_READERS = RULE_READERS | {W, F}

_seq = itertools.count(1)


def _fresh_order(world: World, *, held: bool) -> dict:
    return {"id": stocked_order(world.channel, held=held).pk}


@dataclass(frozen=True)
class Api:
    """Who gets `ok` from one operation; everyone else 403 (anonymous 401 or 403)."""

    allowed: frozenset[str]
    ok: int = 200
    path_params: Callable[[World], dict] = lambda world: {}
    body: Callable[[World], dict] | None = None
    #: the answer carries orders: check the receiver is masked unless the role may see it
    shows_receiver: bool = False
    #: answered before any user is known (signature-authenticated): every role gets this status
    unauthenticated_status: int | None = None


# ---- the API table: (method, path as in the schema) -> who may ---------------------------------
API_ACCESS: dict[tuple[str, str], Api] = {
    ("get", "/api/v1/orders/"): Api(frozenset(ORDER_READERS), shows_receiver=True),
    ("get", "/api/v1/orders/{id}/"): Api(
        frozenset(ORDER_READERS), path_params=lambda w: {"id": w.order.pk}, shows_receiver=True
    ),
    ("post", "/api/v1/orders/{id}/hold/"): Api(
        frozenset({OPS, S}), path_params=lambda w: _fresh_order(w, held=False), body=lambda w: {"note": "t"}
    ),
    ("post", "/api/v1/orders/{id}/release/"): Api(
        frozenset({OPS, S}), path_params=lambda w: _fresh_order(w, held=True), body=lambda w: {}
    ),
    ("post", "/api/v1/orders/{id}/cancel/"): Api(
        frozenset({OPS, S}), path_params=lambda w: _fresh_order(w, held=False), body=lambda w: {}
    ),
    ("post", "/api/v1/channels/{channel_id}/webhook"): Api(
        frozenset(),
        path_params=lambda w: {"channel_id": w.channel.pk},
        body=lambda w: {"tid": "1"},
        unauthenticated_status=401,  # no signature: no user, session or token opens it
    ),
    # scanning is for scanner devices (their own Bearer tokens, shipping/tests): no user, session
    # or API token opens it, whatever the role
    ("post", "/api/v1/scans/outbound"): Api(frozenset(), body=lambda w: {"code": "X"}, unauthenticated_status=401),
    ("post", "/api/v1/scans/items"): Api(
        frozenset(), body=lambda w: {"code": "X", "items": ["1"]}, unauthenticated_status=401
    ),
    # tracking services' pushes prove themselves by signature (shipping/tests/test_tracking_callbacks.py)
    ("post", "/api/v1/tracking/{backend}/callback"): Api(
        frozenset(), path_params=lambda w: {"backend": "kuaidi100"}, body=lambda w: {}, unauthenticated_status=401
    ),
    ("post", "/api/v1/scans/return"): Api(
        frozenset(),
        body=lambda w: {"reference": "RMA00000000", "items": [{"barcode": "1", "condition": "resellable"}]},
        unauthenticated_status=401,
    ),
    ("get", "/api/v1/inventory/levels"): Api(frozenset(STOCK_READERS)),
    ("post", "/api/v1/inventory/movements"): Api(
        frozenset({W, S}),
        ok=201,
        body=lambda w: {
            "warehouse": "SH",
            "sku": "DEMO-MUG-350",
            "kind": "inbound",
            "quantity": 1,
            "reference": f"matrix-{next(_seq)}",
        },
    ),
}


@dataclass(frozen=True)
class Page:
    """Admin access per model: who may see the list and change page, add, and change."""

    view: frozenset[str]
    add: frozenset[str] = frozenset()
    change: frozenset[str] = frozenset()
    #: the change list / change page show receiver details (checked masked unless allowed)
    shows_receiver: bool = False
    #: which receiver fields the change list shows
    list_shows: tuple[str, ...] = ()


def _page(view: set[str], add: set[str] = frozenset(), change: set[str] = frozenset(), **kw) -> Page:
    return Page(frozenset(view | set(change)), frozenset(add), frozenset(change), **kw)


# ---- the admin table: model label -> who may ---------------------------------------------------
ADMIN_ACCESS: dict[str, Page] = {
    "auth.group": _page({S}, {S}, {S}),
    # django-axes' login attempts and lockouts: the superuser's (who lifts a lockout)
    "axes.accessattempt": _page({S}, set(), {S}),
    "axes.accesslog": _page({S}, set(), {S}),
    "axes.accessfailurelog": _page({S}, set(), {S}),
    "auth.user": _page({S}, {S}, {S}),
    "authtoken.tokenproxy": _page({S}, {S}, {S}),
    "django_q.schedule": _page({S}, {S}, {S}),
    "django_q.success": _page({S}, set(), {S}),
    "django_q.failure": _page({S}, set(), {S}),
    "django_q.ormq": _page({S}, set(), {S}),
    "orders.channel": _page(CHANNEL_READERS, {S}, {S}),
    # orders arrive through channels, never typed in; changes go through services
    "orders.order": _page(ORDER_READERS, set(), {S}, shows_receiver=True, list_shows=("receiver_name",)),
    "orders.alert": _page(CHANNEL_READERS, set(), {OPS, S}),
    # how long orders may wait per stage (the stranded-order guard): ops keep them
    "orders.stagelimit": _page(RULE_READERS, {OPS, S}, {OPS, S}),
    # the payload as received carries the receiver in full: ops (who may see it) retry or resolve
    "orders.quarantinedmessage": _page({OPS, S}, set(), {OPS, S}),
    # the webhook inbox: written by the webhook and the drainers only; ops watch its backlog
    "orders.inboxmessage": _page({OPS, S}),
    "inventory.warehouse": _page(STOCK_READERS, {S}, {S}),
    "inventory.sku": _page(STOCK_READERS, {S}, {S}),
    "inventory.stocklevel": _page(STOCK_READERS),  # read-only: stock changes by movements
    "inventory.stockmovement": _page(STOCK_READERS),
    "inventory.stockreservation": _page(STOCK_READERS),
    "inventory.channellisting": _page(STOCK_READERS, {S}, {S}),
    "inventory.stockpush": _page(STOCK_READERS),
    "inventory.inventoryevent": _page(STOCK_READERS),
    "inventory.reconciliationrun": _page(STOCK_READERS),
    "inventory.reconciliationdiff": _page(STOCK_READERS),
    "rules.interceptrule": _page(RULE_READERS, {RA, S}, {RA, S}),
    "rules.rulehit": _page(RULE_READERS),
    "rules.exceptiontype": _page(RULE_READERS, {S}, {RA, S}),
    "rules.blacklistentry": _page(RULE_READERS, {OPS, RA, S}, {OPS, RA, S}),
    # warehouse and finance see the workbench and claim their kinds of to-do (orderhub/roles.py)
    "rules.exceptiontask": _page(WORKBENCH_READERS, set(), {OPS, S}),
    "shipping.carrier": _page(SHIPPING_READERS, {S}, {S}),
    "shipping.waybillaccount": _page(SHIPPING_READERS, {S}, {S}),
    # parcels, batches and outbox rows change only through the services (print, scan, void)
    "shipping.shipment": _page(SHIPPING_READERS),
    "shipping.printbatch": _page(SHIPPING_READERS),
    "shipping.writeback": _page(SHIPPING_READERS),
    "shipping.buyernotice": _page(SHIPPING_READERS),
    "shipping.scanrecord": _page(SHIPPING_READERS),
    # written by the scan and the tracking task; ops may send a failed one again (an action, not a change)
    "shipping.trackingsubscription": _page(SHIPPING_READERS),
    # the record of each waybill sheet imported; importing itself is the extra page below
    "shipping.waybillimport": _page(SHIPPING_READERS),
    "shipping.scannerdevice": _page({S}, {S}, {S}),
    # returns change only through receive / close / cancel (their own pages and actions, below); the
    # order's receiver they show is masked as on the order pages (shipping/tests/test_returns_admin.py)
    "shipping.return": _page(SHIPPING_READERS),
    "inventory.quarantineentry": _page(STOCK_READERS),  # damaged returns: written by receiving only
    # what buyers read and how long parcels take: ops word them (retry/settle a notice: ops, by action)
    "shipping.noticetemplate": _page(SHIPPING_READERS, {OPS, S}, {OPS, S}),
    "shipping.transittime": _page(SHIPPING_READERS, {OPS, S}, {OPS, S}),
}

#: registered only in some deployments: django-q2 shows its ORM queue only without REDIS_URL
ADMIN_OPTIONAL = {"django_q.ormq"}

#: admin pages beyond list/add/change: (name, url builder, roles that get 200)
ADMIN_EXTRA: list[tuple[str, Callable[[World], str], frozenset[str]]] = [
    ("exception workbench", lambda w: reverse("admin:rules_exceptiontask_mine"), frozenset(WORKBENCH_READERS)),
    (
        "exception workbench: a task's resolve page",
        lambda w: reverse("admin:rules_exceptiontask_resolve", args=[_first_pk("rules.exceptiontask")]),
        frozenset(WORKBENCH_READERS),
    ),
    ("rule coverage", lambda w: reverse("admin:rules_interceptrule_coverage"), frozenset(RULE_READERS)),
    (
        "rule backtest",
        lambda w: reverse("admin:rules_interceptrule_backtest", args=[_first_pk("rules.interceptrule")]),
        frozenset(RULE_READERS),
    ),
    (
        "rule backtest run (progress, cancel, result)",
        lambda w: reverse("admin:rules_interceptrule_backtest_run", args=[_first_backtest_run()]),
        frozenset(RULE_READERS),
    ),
    ("order export", lambda w: reverse("admin:orders_order_export"), frozenset(ORDER_READERS)),
    # the flow drawn with live figures: orders' figures and the rules' conditions
    ("order workflow", lambda w: reverse("admin:orders_workflow"), frozenset(RULE_READERS)),
    ("order workflow, last 7 days", lambda w: reverse("admin:orders_workflow") + "?days=7", frozenset(RULE_READERS)),
    ("an order's path", lambda w: reverse("admin:orders_order_path", args=[w.order.pk]), frozenset(ORDER_READERS)),
    ("stock level export", lambda w: reverse("admin:inventory_stocklevel_export"), frozenset(STOCK_READERS)),
    ("diff export", lambda w: reverse("admin:inventory_reconciliationdiff_export"), frozenset(STOCK_READERS)),
    ("waybill sheet import", lambda w: reverse("admin:shipping_waybillimport_import"), frozenset({OPS, W, S})),
    (
        "waybill sheet template",
        lambda w: reverse("admin:shipping_waybillimport_template", args=["xlsx"]),
        frozenset({OPS, W, S}),
    ),
    (
        "print page",
        lambda w: reverse("admin:shipping_printbatch_print", args=[_first_pk("shipping.printbatch")]),
        frozenset(SHIPPING_READERS),
    ),
    (
        "pick list PDF",
        lambda w: reverse("admin:shipping_printbatch_pick_list", args=[_first_pk("shipping.printbatch")]),
        frozenset(SHIPPING_READERS),
    ),
    (
        "write-back: mark done by hand",
        lambda w: reverse("admin:shipping_writeback_mark_done", args=[_first_pk("shipping.writeback")]),
        frozenset({OPS, S}),
    ),
    (
        "parcel: change a shipped parcel's tracking number",
        lambda w: reverse("admin:shipping_shipment_change_tracking_number", args=[_first_pk("shipping.shipment")]),
        frozenset({OPS, S}),
    ),
    (
        "packing slips PDF",
        lambda w: reverse("admin:shipping_printbatch_packing_slips", args=[_first_pk("shipping.printbatch")]),
        frozenset(SHIPPING_READERS),
    ),
    (
        "receive a return",
        lambda w: reverse("admin:shipping_return_receive", args=[_first_pk("shipping.return")]),
        frozenset({OPS, W, S}),
    ),
    (
        "open a return",
        lambda w: reverse("admin:shipping_return_open") + f"?order={w.order.pk}",
        frozenset({OPS, W, S}),
    ),
]

_HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _first_backtest_run() -> int:
    from rules.models import BacktestRun

    return BacktestRun.objects.order_by("pk").values_list("pk", flat=True).first()


def _first_pk(label: str):
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)
    return model._default_manager.order_by("pk").values_list("pk", flat=True).first()


def _client(world: World, role: str) -> Client:
    client = Client()
    if world.users[role] is not None:
        client.force_login(world.users[role])
    return client


def schema_operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(method, path) for path, ops in schema["paths"].items() for method in ops if method in _HTTP_METHODS]


def test_every_schema_operation_and_admin_page_has_expectations():
    """A new endpoint or admin page fails here until someone decides who may use it."""
    operations = set(schema_operations())
    unknown = sorted(operations - set(API_ACCESS))
    assert not unknown, (
        f"API operation(s) {unknown} have no row in API_ACCESS in orderhub/tests/test_role_endpoint_matrix.py: "
        "add one saying which roles may call it"
    )
    stale = sorted(set(API_ACCESS) - operations)
    assert not stale, f"API_ACCESS lists operations the schema no longer has: {stale}"
    registered = {model._meta.label_lower for model in admin.site._registry}
    unknown_pages = sorted(registered - set(ADMIN_ACCESS))
    assert not unknown_pages, (
        f"admin page(s) for {unknown_pages} have no row in ADMIN_ACCESS in "
        "orderhub/tests/test_role_endpoint_matrix.py: add one saying which roles may view, add and change"
    )
    gone = set(ADMIN_ACCESS) - registered - ADMIN_OPTIONAL
    assert not gone, f"ADMIN_ACCESS lists unregistered models: {gone}"


def _assert_receiver(text: str, role: str, where: str, shown: tuple[str, ...] = tuple(RECEIVER)) -> None:
    """`shown`: the receiver fields the page displays (full for RECEIVER_ROLES, masked otherwise)."""
    for name in shown:
        if role in RECEIVER_ROLES:
            assert RECEIVER[name] in text, f"{role} should see the full {name} on {where}"
        else:
            assert MASKED[name] in text, f"{role} should see the masked {name} on {where}"
    if role not in RECEIVER_ROLES:
        for name, value in RECEIVER.items():
            assert value not in text, f"{role} sees the full {name} on {where}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_api_role_matrix(role, settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    world = build_world()
    client = _client(world, role)
    for method, path in schema_operations():
        spec = API_ACCESS[(method, path)]
        url = path.format(**spec.path_params(world))
        if spec.shows_receiver and "{" not in path and "?" not in url:
            url += f"?channel={world.channel.pk}"
        kwargs = {"data": spec.body(world), "content_type": "application/json"} if spec.body else {}
        response = getattr(client, method)(url, **kwargs)
        where = f"{method.upper()} {url} as {role}"
        if spec.unauthenticated_status is not None:
            assert response.status_code == spec.unauthenticated_status, where
        elif role == ANONYMOUS:
            assert response.status_code in (401, 403), where
        elif role in spec.allowed:
            assert response.status_code == spec.ok, f"{where}: {response.status_code} {response.content[:300]!r}"
            if spec.shows_receiver:
                _assert_receiver(response.content.decode(), role, where)
        else:
            assert response.status_code == 403, f"{where}: {response.status_code} {response.content[:300]!r}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_admin_role_matrix(role, settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    world = build_world()
    client = _client(world, role)
    for model in admin.site._registry:
        label = model._meta.label_lower
        page = ADMIN_ACCESS[label]
        info = model._meta.app_label, model._meta.model_name
        obj = world.order if model is Order else model._default_manager.order_by("pk").first()
        urls = {
            "changelist": reverse("admin:{}_{}_changelist".format(*info)),
            "change": reverse("admin:{}_{}_change".format(*info), args=[obj.pk]),
            "history": reverse("admin:{}_{}_history".format(*info), args=[obj.pk]),
            "add": reverse("admin:{}_{}_add".format(*info)),
        }
        for kind, url in urls.items():
            response = client.get(url)
            where = f"{kind} of {label} ({url}) as {role}"
            if role == ANONYMOUS:
                assert response.status_code == 302 and "/login/" in response["Location"], where
                continue
            allowed = page.add if kind == "add" else page.view
            expected = 200 if role in allowed else 403
            assert response.status_code == expected, f"{where}: {response.status_code}"
            if expected != 200:
                continue
            if kind == "change":
                may_change = bool(response.context["has_change_permission"])
                assert may_change == (role in page.change), f"{where}: may change = {may_change}"
            if page.shows_receiver and kind in ("changelist", "change", "history"):
                shown = page.list_shows if kind == "changelist" else tuple(RECEIVER)
                _assert_receiver(response.content.decode(), role, where, shown)
        if role not in (ANONYMOUS,) and role not in page.change:
            refused = client.post(urls["change"], {})
            assert refused.status_code == 403, f"POST change of {label} as {role}: {refused.status_code}"


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_admin_extra_pages_role_matrix(role, settings):
    settings.INVENTORY_ENQUEUE_TASKS = False
    world = build_world()
    client = _client(world, role)
    for name, url_for, allowed in ADMIN_EXTRA:
        url = url_for(world)
        response = client.get(url)
        where = f"{name} ({url}) as {role}"
        if role == ANONYMOUS:
            assert response.status_code == 302, where
        else:
            assert response.status_code == (200 if role in allowed else 403), f"{where}: {response.status_code}"


#: the workbench's writes (POST to the workbench page): who may
WORKBENCH_OPS = {"claim": {OPS, W, F, S}, "assign": {OPS, S}, "resolve": {OPS, S}}


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_workbench_role_matrix(role, settings):
    """The resolve page masks the receiver by role; claim, assign and bulk resolve are each refused
    (403, nothing written) for a role without their permission and done for one with it."""
    from rules.models import ExceptionTask

    settings.INVENTORY_ENQUEUE_TASKS = False
    world = build_world()
    client = _client(world, role)
    task = ExceptionTask.objects.get(order=world.order, state="open", exception_type__code="remark_review")
    page = client.get(reverse("admin:rules_exceptiontask_resolve", args=[task.pk]))
    where = f"workbench resolve page as {role}"
    if role == ANONYMOUS:
        assert page.status_code == 302, where
        return
    assert page.status_code == (200 if role in WORKBENCH_READERS else 403), where
    if page.status_code == 200:
        _assert_receiver(page.content.decode(), role, where)
    url = reverse("admin:rules_exceptiontask_mine")
    user = world.users[role]
    for op, allowed in WORKBENCH_OPS.items():
        body = {"op": op, "task": [task.pk], "assignee": str(user.pk), "bulk-action": "dismiss", "bulk-note": "m"}
        response = client.post(url, body)
        task.refresh_from_db()
        where = f"workbench {op} as {role}"
        if role in allowed:
            assert response.status_code == 302, where
            done = {"claim": task.assignee_user_id == user.pk, "assign": task.assignee_user_id == user.pk}
            assert done.get(op, task.state == "resolved"), where
            ExceptionTask.objects.filter(pk=task.pk).update(assignee_user=None)
        else:
            assert response.status_code == 403, f"{where}: {response.status_code}"
            assert task.state == "open" and task.assignee_user_id is None, where
