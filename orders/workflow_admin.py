"""Admin pages of the order flow: the workflow page (the whole flow drawn with live figures), one
order's path, and the stage limits the stranded-order guard checks. Thin: the figures come from
orders.workflow_selectors, the drawing from orders.workflow_diagram."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from orders import workflow_diagram, workflow_selectors
from orders.models import Lane, Order, StageLimit

#: who may open the workflow page: it shows orders' figures and the rules' conditions
WORKFLOW_PERMISSIONS = ("orders.view_order", "rules.view_interceptrule")


@admin.register(StageLimit)
class StageLimitAdmin(admin.ModelAdmin):
    list_display = ("stage", "lane_display", "limit_minutes", "enabled")
    list_editable = ()
    list_filter = ("stage", "enabled")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "lane":
            from django import forms

            return forms.ChoiceField(
                label=db_field.verbose_name,
                choices=[("", _("every lane"))] + [(v, label) for v, label in Lane.choices if v],
                required=False,
                help_text=db_field.help_text,
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description=_("lane"), ordering="lane")
    def lane_display(self, obj: StageLimit) -> str:
        return str(Lane(obj.lane).label) if obj.lane in Lane.values and obj.lane else str(_("every lane"))


def workflow_urls(site: admin.AdminSite) -> list:
    """Mounted by the admin site (orderhub.admin_site) before the model pages."""
    return [
        path("orders/workflow/", site.admin_view(workflow_view), name="orders_workflow"),
        path("orders/order/<int:order_id>/path/", site.admin_view(order_path_view), name="orders_order_path"),
    ]


def may_view_workflow(user) -> bool:
    return user.has_perms(WORKFLOW_PERMISSIONS)


def workflow_app_entry(request: HttpRequest) -> dict | None:
    """The row the Orders app shows for the workflow page (None when the user may not open it)."""
    if not may_view_workflow(request.user):
        return None
    return {
        "model": None,
        "name": _("Order workflow"),
        "object_name": "Workflow",
        "perms": {"add": False, "change": False, "delete": False, "view": True},
        "admin_url": reverse("admin:orders_workflow"),
        "add_url": None,
        "view_only": True,
    }


def workflow_view(request: HttpRequest) -> TemplateResponse:
    if not may_view_workflow(request.user):
        raise PermissionDenied
    try:
        days = int(request.GET.get("days", workflow_selectors.PERIOD_DAYS[0]))
    except ValueError:
        days = workflow_selectors.PERIOD_DAYS[0]
    if days not in workflow_selectors.PERIOD_DAYS:
        days = workflow_selectors.PERIOD_DAYS[0]
    flow = workflow_selectors.workflow(days=days)
    rule_boxes = [b for b in flow.boxes if b.key.startswith("rule:")]
    busiest = sorted((e for e in flow.edges if e.count and not e.shadow), key=lambda e: -e.count)[:5]
    titles = {b.key: b.title for b in flow.boxes}
    add_url = reverse("admin:rules_interceptrule_add")
    context = {
        **admin.site.each_context(request),
        "title": _("Order workflow"),
        "flow": flow,
        "svg": workflow_diagram.workflow_svg(flow),
        "days": days,
        "periods": [(d, workflow_selectors.period_label(d)) for d in workflow_selectors.PERIOD_DAYS],
        "stranded": [b for b in flow.boxes if b.red],
        "dead_ends": flow.dead_ends,
        "unmatched_rules": [b for b in rule_boxes if not b.figures.took and not _shadow_matches(flow, b.key)],
        "busiest": [(titles[e.source], titles[e.target], e.count) for e in busiest],
        "shadow_rules": [
            (b, reverse("admin:rules_interceptrule_backtest", args=[int(b.key.split(":")[1])]))
            for b in rule_boxes
            if b.shadow
        ],
        "add_rule_url": f"{add_url}?{urlencode({'mode': 'shadow', 'action': 'hold'})}",
        "add_lane_url": f"{add_url}?{urlencode({'mode': 'shadow', 'action': 'lane', 'lane': Lane.PROMOTION})}",
        "may_add_rule": request.user.has_perm("rules.add_interceptrule"),
        "coverage_url": reverse("admin:rules_interceptrule_coverage") + f"?days={max(days, 7)}",
        "limits_url": reverse("admin:orders_stagelimit_changelist"),
    }
    return TemplateResponse(request, "admin/orders/workflow.html", context)


def _shadow_matches(flow, key: str) -> int:
    return sum(e.count for e in flow.edges if e.source == "intake" and e.target == key)


def order_path_view(request: HttpRequest, order_id: int) -> TemplateResponse:
    if not request.user.has_perm("orders.view_order"):
        raise PermissionDenied
    order = get_object_or_404(Order.objects.select_related("channel"), pk=order_id)
    steps = workflow_selectors.order_path(order=order, user=request.user)
    context = {
        **admin.site.each_context(request),
        "title": _("Path of order %(order)s") % {"order": order.external_id},
        "order": order,
        "opts": Order._meta,
        "steps": steps,
        "svg": workflow_diagram.order_path_svg(steps),
        "may_view_workflow": may_view_workflow(request.user),
    }
    return TemplateResponse(request, "admin/orders/order_path.html", context)
