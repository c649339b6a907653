"""Roles are Django groups, created (and topped up) after every `migrate` by a post_migrate handler,
and by the data migration rules/0005 (which calls the same `ensure_roles`), so a database migrated
to that point has them even before the handler runs.

Why post_migrate and not a data migration: permissions themselves are only created by Django's own
post_migrate handler, so a data migration would run before a new model's permissions exist, and
every new model or permission would need another data migration in the role's app. The handler
runs after each migrate (and after the test database's flush), is idempotent, and only *adds*
missing permissions: grants an administrator gave a group on top stay.

- viewer: reads every order, channel, stock, rule and shipping page; receiver details masked.
- the workflow page needs orders.view_order + rules.view_interceptrule (viewer, ops, rule admin); an
  order's path needs orders.view_order (its rule hits only with rules.view_rulehit); the stage limits
  the stranded-order guard checks are read by those three roles and edited by ops.
- ops: viewer + hold / release / cancel / mark printed orders, claim, assign (to a person) and
  resolve exception tasks on the workbench, import waybill sheets (which mark
  the orders they list shipped), resolve alerts, send a failed tracking
  subscription again, retry or resolve quarantined platform orders, keep the blacklist; open, receive,
  close and cancel returns (RMA); retry a write-back now, mark one done by hand, change a shipped
  parcel's tracking number; receiver details in full.
- warehouse: reads orders (receiver in full: they ship to it), stock and shipping; prints batches,
  voids and re-issues a parcel's number, marks orders printed / shipped, imports waybill sheets;
  opens and receives returns (RMA); records stock movements (WMS API, stocktake import); sees the
  exception workbench and claims to-dos (then resolves the ones it claimed). Scanning
  itself is done by scanner devices with their own tokens.
- rule admin: reads orders (masked) and rule hits; writes intercept rules, exception types and the
  blacklist.
- finance: reads orders (masked), channels, stock, movements, reconciliation and shipping (parcels,
  write-backs, buyer notices); starts a reconciliation run; sees the exception workbench and claims
  to-dos (payment, price) to resolve them.

Buyer notices (shipping.notices): every shipping reader reads the notices, their templates and the
transit-time table; ops edit templates and transit times and retry or settle a notice by hand.

Channel credentials, e-waybill accounts, carriers, scanner devices and users are the superuser's.
A permission missing from the database (an app not migrated yet) is skipped, never invented.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import pgettext_lazy

_ORDER_READ = ("orders.view_order", "orders.view_orderline", "orders.view_orderevent")
_CHANNEL_READ = ("orders.view_channel", "orders.view_alert")
_INVENTORY_READ = tuple(
    f"inventory.view_{m}"
    for m in (
        "warehouse",
        "sku",
        "stocklevel",
        "stockmovement",
        "stockreservation",
        "channellisting",
        "stockpush",
        "inventoryevent",
        "reconciliationrun",
        "reconciliationdiff",
        "quarantineentry",
    )
)
_RULES_READ = tuple(
    f"rules.view_{m}"
    for m in ("interceptrule", "rulecondition", "rulehit", "exceptiontype", "blacklistentry", "exceptiontask")
)
#: how long an order may wait in each stage (the workflow page and the stranded-order guard)
_STAGE_LIMITS_READ = ("orders.view_stagelimit",)

_SHIPPING_READ = tuple(
    f"shipping.view_{m}"
    for m in (
        "carrier",
        "waybillaccount",
        "printbatch",
        "printrecord",
        "shipment",
        "shipmentline",
        "writeback",
        "buyernotice",
        "scanrecord",
        "trackingsubscription",
        "trackingevent",
        "return",
        "returnitem",
        "returnreceipt",
        "waybillimport",
    )
)

# buyer-notice templates and the transit-time table (the notices themselves are shipping.buyernotice)
_NOTICES_READ = ("shipping.view_noticetemplate", "shipping.view_transittime")

# the exception workbench for a role whose people resolve their own kinds (stock and SKU, payment and
# price): see the to-dos, claim one; a claimed task is theirs to resolve (rules.services.can_resolve)
_WORKBENCH_CLAIM = ("rules.view_exceptiontask", "rules.claim_exceptiontask")

VIEWER = "viewer"
OPS = "ops"
WAREHOUSE = "warehouse"
RULE_ADMIN = "rule admin"
FINANCE = "finance"

#: the roles' names in the reader's language (the groups keep these codes as their names); "(role)"
#: tells a role apart from the assignee group of the same trade ("Warehouse", "Finance")
ROLE_LABELS = {
    VIEWER: pgettext_lazy("role", "Viewer (role)"),
    OPS: pgettext_lazy("role", "Ops (role)"),
    WAREHOUSE: pgettext_lazy("role", "Warehouse staff (role)"),
    RULE_ADMIN: pgettext_lazy("role", "Rule admin (role)"),
    FINANCE: pgettext_lazy("role", "Finance (role)"),
}

ROLES: dict[str, tuple[str, ...]] = {
    VIEWER: (
        *_ORDER_READ,
        *_CHANNEL_READ,
        *_INVENTORY_READ,
        *_RULES_READ,
        *_SHIPPING_READ,
        *_NOTICES_READ,
        *_STAGE_LIMITS_READ,
    ),
    OPS: (
        *_ORDER_READ,
        *_CHANNEL_READ,
        *_INVENTORY_READ,
        *_RULES_READ,
        *_SHIPPING_READ,
        *_NOTICES_READ,
        *_STAGE_LIMITS_READ,
        "orders.add_stagelimit",
        "orders.change_stagelimit",
        "orders.delete_stagelimit",
        "shipping.void_shipment",
        "shipping.retry_trackingsubscription",
        "shipping.add_return",
        "shipping.receive_return",
        "shipping.change_return",
        "shipping.import_waybills",
        "orders.ship_order",  # a waybill sheet import marks the orders it lists shipped
        "shipping.retry_writeback",
        "shipping.resolve_writeback",
        "shipping.resend_buyernotice",
        "shipping.add_noticetemplate",
        "shipping.change_noticetemplate",
        "shipping.add_transittime",
        "shipping.change_transittime",
        "shipping.delete_transittime",
        "orders.view_receiver_details",
        "orders.hold_order",
        "orders.release_order",
        "orders.cancel_order",
        "orders.print_order",
        "orders.change_alert",
        "orders.view_quarantinedmessage",
        "orders.change_quarantinedmessage",
        "orders.view_inboxmessage",
        "rules.change_exceptiontask",
        "rules.resolve_exceptiontask",
        "rules.claim_exceptiontask",
        "rules.assign_exceptiontask",
        "rules.add_blacklistentry",
        "rules.change_blacklistentry",
    ),
    WAREHOUSE: (
        *_ORDER_READ,
        *_INVENTORY_READ,
        *_SHIPPING_READ,
        *_NOTICES_READ,
        "shipping.void_shipment",
        "shipping.add_return",
        "shipping.receive_return",
        "shipping.import_waybills",
        "orders.view_receiver_details",
        "orders.print_order",
        "orders.ship_order",
        "inventory.add_stockmovement",
        *_WORKBENCH_CLAIM,
    ),
    RULE_ADMIN: (
        *_ORDER_READ,
        *_RULES_READ,
        *_STAGE_LIMITS_READ,
        "rules.add_interceptrule",
        "rules.change_interceptrule",
        "rules.delete_interceptrule",
        "rules.add_rulecondition",
        "rules.change_rulecondition",
        "rules.delete_rulecondition",
        "rules.change_exceptiontype",
        "rules.add_blacklistentry",
        "rules.change_blacklistentry",
        "rules.delete_blacklistentry",
    ),
    FINANCE: (
        *_ORDER_READ,
        *_CHANNEL_READ,
        *_INVENTORY_READ,
        *_SHIPPING_READ,
        *_NOTICES_READ,
        "inventory.add_reconciliationrun",
        *_WORKBENCH_CLAIM,
    ),
}


def ensure_roles(*, using: str = "default") -> None:
    """Create every role's group and give it its permissions (idempotent, additive)."""
    from django.contrib.auth.models import Group, Permission

    wanted = {perm for perms in ROLES.values() for perm in perms}
    by_name: dict[str, Any] = {}
    for perm in Permission.objects.using(using).select_related("content_type"):
        name = f"{perm.content_type.app_label}.{perm.codename}"
        if name in wanted:
            by_name[name] = perm
    for role, perms in ROLES.items():
        group, _created = Group.objects.using(using).get_or_create(name=role)
        group.permissions.add(*(by_name[p] for p in perms if p in by_name))


def ensure_roles_after_migrate(sender: Any, *, using: str = "default", apps: Any = None, **kwargs: Any) -> None:
    """post_migrate, once per migrate: on the last app's signal (Django sends one per app with
    models). Django creates each app's permissions in its own post_migrate receiver, which may run
    after this one for the last app: create them here first (idempotent)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    with_models = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if not with_models or sender.label != with_models[-1].label:
        return
    create_permissions(sender, verbosity=0, using=using, apps=apps or global_apps)
    ensure_roles(using=using)
