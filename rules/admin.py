"""Admin: editable rules with validated condition rows and history, hits, the blacklist, exception
types, the exception to-do list ("My exceptions") with its resolve actions, backtest and coverage."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from orderhub.admin_history import ReadOnlyHistoryAdmin
from orderhub.masking import can_view_receiver, mask_receiver_mapping
from orders.errors import OrderError
from orders.models import Order
from rules import selectors, services
from rules.errors import BacktestPeriodInvalid, RulesError
from rules.models import (
    BlacklistEntry,
    BlacklistKind,
    ExceptionTask,
    ExceptionType,
    InterceptRule,
    RuleCondition,
    RuleHit,
    TaskState,
)


# ---- rules ------------------------------------------------------------------------------------
class BacktestForm(forms.Form):
    """The period of a backtest: orders received from `since` through `until` (whole days, local time)."""

    since = forms.DateField(
        label=_("Orders received from"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    until = forms.DateField(label=_("through"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["until"].help_text = _("At most %(days)d days; the backtest runs in the background.") % {
            "days": services.BACKTEST_MAX_DAYS
        }

    @staticmethod
    def initial_for(days: str | None) -> dict:
        try:
            days_back = max(1, min(int(days or 7), services.BACKTEST_MAX_DAYS))
        except ValueError:
            days_back = 7
        today = timezone.localdate()
        return {"since": today - timedelta(days=days_back - 1), "until": today}

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end of the period must not be before its start."))
        return data

    def period(self) -> tuple[datetime, datetime]:
        """[start of `since`, start of the day after `until`) as aware datetimes."""
        tz = timezone.get_current_timezone()
        start = datetime.combine(self.cleaned_data["since"], time.min, tzinfo=tz)
        end = datetime.combine(self.cleaned_data["until"] + timedelta(days=1), time.min, tzinfo=tz)
        return start, end


class ConditionFormSet(forms.BaseInlineFormSet):
    """Repeats each row's errors above the rows, naming the row, so a refused rule says where."""

    def clean(self):
        super().clean()
        problems = []
        for index, form in enumerate(self.forms, start=1):
            if not form.errors or (self.can_delete and self._should_delete_form(form)):
                continue
            field = form.data.get(form.add_prefix("field"), "") or "?"
            for name, errors in form.errors.items():
                label = name if name != "__all__" else ""
                for error in errors:
                    problems.append(
                        _("Condition row %(row)d (%(field)s) %(part)s: %(error)s")
                        % {"row": index, "field": field, "part": label, "error": error}
                    )
        kept = [
            form
            for form in self.forms
            if form.has_changed() and not (self.can_delete and self._should_delete_form(form))
        ]
        if not kept and not problems:
            problems.append(_("A rule needs at least one condition."))
        if problems:
            raise ValidationError(problems)


class RuleConditionInline(admin.TabularInline):
    model = RuleCondition
    formset = ConditionFormSet
    extra = 0
    min_num = 1
    validate_min = True
    fields = ("position", "field", "operator", "value")
    ordering = ("position", "id")


@admin.register(InterceptRule)
class InterceptRuleAdmin(ReadOnlyHistoryAdmin):
    inlines = [RuleConditionInline]
    list_display = (
        "rule_name",
        "position",
        "action",
        "target",
        "mode",
        "rollout_percent",
        "enabled",
        "version",
        "enforced_hits",
        "shadow_hits",
    )
    list_filter = ("enabled", "mode", "action", "exception_type")
    list_editable = ("position", "enabled")
    search_fields = ("name", "code", "description")
    readonly_fields = ("code", "version", "hit_summary", "created_at", "updated_at")
    actions = ["recheck_open_orders", "enable_rules", "disable_rules"]
    change_form_template = "admin/rules/interceptrule/change_form.html"
    change_list_template = "admin/rules/interceptrule/change_list.html"
    fieldsets = (
        (None, {"fields": ("name", "code", "description", "position", "enabled", "combinator")}),
        (
            _("Action"),
            {
                "fields": (
                    "action",
                    "exception_type",
                    "lane",
                    "tag",
                    "set_priority",
                    "assign_user",
                    "assign_group",
                    "due_minutes",
                    "skip_lanes",
                )
            },
        ),
        (_("Release"), {"fields": ("mode", "rollout_percent", "valid_from", "valid_until")}),
        (_("Record"), {"fields": ("version", "hit_summary", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # Last 7 days, one indexed (rule, at) subquery per column: the hit table grows without bound.
        since = timezone.now() - timezone.timedelta(days=7)

        def hits(enforced: bool):
            counted = (
                RuleHit.objects.filter(rule=OuterRef("pk"), at__gte=since, enforced=enforced)
                .order_by()
                .values("rule")
                .annotate(c=Count("pk"))
                .values("c")[:1]
            )
            return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))

        return (
            super()
            .get_queryset(request)
            .select_related("exception_type")
            .annotate(_enforced=hits(True), _shadow=hits(False))
        )

    @admin.display(description=_("name"), ordering="name")
    def rule_name(self, obj: InterceptRule) -> str:
        return obj.label  # a seeded name in the reader's language

    @admin.display(description=_("holds as / routes to"))
    def target(self, obj):
        if obj.action == "hold":
            return obj.exception_type.code if obj.exception_type_id else "—"
        if obj.action == "lane":
            return obj.lane
        if obj.action == "tag":
            return obj.tag
        return obj.set_priority

    @admin.display(description=_("enforced hits (7 days)"), ordering="_enforced")
    def enforced_hits(self, obj):
        return getattr(obj, "_enforced", 0)

    @admin.display(description=_("shadow hits (7 days)"), ordering="_shadow")
    def shadow_hits(self, obj):
        return getattr(obj, "_shadow", 0)

    @admin.display(description=_("hits (enforced / shadow)"))
    def hit_summary(self, obj):
        if not obj.pk:
            return "—"
        all_time = selectors.rule_hit_counts(rule_id=obj.pk)
        week = selectors.rule_hit_counts(rule_id=obj.pk, since=timezone.now() - timezone.timedelta(days=7))
        return format_html(
            "{} {} / {} {} · {} {} / {}",
            _("all time:"),
            all_time["enforced"],
            all_time["shadow"],
            _("(enforced / shadow)"),
            _("last 7 days:"),
            week["enforced"],
            week["shadow"],
        )

    def get_urls(self):
        return [
            path(
                "<int:rule_id>/backtest/",
                self.admin_site.admin_view(self.backtest_view),
                name="rules_interceptrule_backtest",
            ),
            path(
                "backtest/<int:run_id>/",
                self.admin_site.admin_view(self.backtest_run_view),
                name="rules_interceptrule_backtest_run",
            ),
            path(
                "backtest/<int:run_id>/cancel/",
                self.admin_site.admin_view(self.backtest_cancel_view),
                name="rules_interceptrule_backtest_cancel",
            ),
            path("coverage/", self.admin_site.admin_view(self.coverage_view), name="rules_interceptrule_coverage"),
            *super().get_urls(),
        ]

    def backtest_view(self, request, rule_id: int):
        """The period form and the rule's recent runs; POST only records and queues a run (no evaluation)."""
        rule = get_object_or_404(InterceptRule, pk=rule_id)
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        if request.method == "POST":
            form = BacktestForm(request.POST)
            if form.is_valid():
                since, until = form.period()
                try:
                    run = services.backtest_start(rule_id=rule.pk, since=since, until=until, actor=request.user)
                except BacktestPeriodInvalid as exc:
                    for name, message in exc.errors.items():
                        form.add_error(name if name in form.fields else None, message)
                else:
                    return HttpResponseRedirect(reverse("admin:rules_interceptrule_backtest_run", args=[run.pk]))
        else:
            form = BacktestForm(initial=BacktestForm.initial_for(request.GET.get("days")))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Backtest: %(rule)s") % {"rule": rule.name},
            "rule": rule,
            "form": form,
            "runs": selectors.backtest_runs_for_rule(rule_id=rule.pk),
        }
        return TemplateResponse(request, "admin/rules/backtest.html", context)

    def backtest_run_view(self, request, run_id: int):
        """One run: a progress bar that refreshes itself while the task works, Cancel, the stored result."""
        run = selectors.backtest_run_get(run_id=run_id)
        if run is None:
            raise Http404
        if not self.has_view_permission(request, run.rule):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Backtest: %(rule)s") % {"rule": run.rule.name},
            "rule": run.rule,
            "run": run,
            "sample": selectors.backtest_sample_orders(run=run) if run.state == "done" else [],
            "refresh_seconds": 2,
        }
        return TemplateResponse(request, "admin/rules/backtest_run.html", context)

    def backtest_cancel_view(self, request, run_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = selectors.backtest_run_get(run_id=run_id)
        if run is None:
            raise Http404
        if not self.has_view_permission(request, run.rule):
            raise PermissionDenied
        run = services.backtest_cancel(run_id=run.pk, actor=request.user)
        if run.is_finished and run.state != "cancelled":
            self.message_user(request, _("The backtest had already finished."), messages.WARNING)
        else:
            self.message_user(request, _("Backtest cancelled."), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:rules_interceptrule_backtest_run", args=[run.pk]))

    def coverage_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = max(1, min(int(request.GET.get("days", 7)), 365))
        except ValueError:
            days = 7
        report = selectors.coverage_report(days=days)
        if request.GET.get("format") == "xlsx":
            dataset = selectors.coverage_dataset(report)
            response = HttpResponse(
                dataset.export("xlsx"),
                content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            )
            response["Content-Disposition"] = f'attachment; filename="rule-coverage-{days}d.xlsx"'
            return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Rule coverage review"),
            "report": report,
            "days": days,
        }
        return TemplateResponse(request, "admin/rules/coverage.html", context)

    @admin.action(description=_("Re-check open orders against the rules now"), permissions=["change"])
    def recheck_open_orders(self, request, queryset):
        counts = services.recheck_open_orders(limit=2000)
        self.message_user(request, _("Re-checked open orders: %(counts)s") % {"counts": counts}, messages.SUCCESS)

    @admin.action(description=_("Enable selected rules"), permissions=["change"])
    def enable_rules(self, request, queryset):
        for rule in queryset:  # one save each, so each change is in the rule's history
            rule.enabled = True
            rule.save()

    @admin.action(description=_("Disable selected rules"), permissions=["change"])
    def disable_rules(self, request, queryset):
        for rule in queryset:
            rule.enabled = False
            rule.save()


@admin.register(RuleHit)
class RuleHitAdmin(admin.ModelAdmin):
    list_display = ("at", "rule", "order", "rule_version", "enforced", "mode", "in_rollout", "trigger")
    list_filter = ("enforced", "mode", "trigger", "rule")
    list_select_related = ("rule", "order", "order__channel")
    readonly_fields = [*(f.name for f in RuleHit._meta.fields), "facts_masked"]
    date_hierarchy = "at"

    def get_fields(self, request, obj=None):
        """The facts a rule saw include the receiver's name, phone and address: masked without
        orders.view_receiver_details."""
        names = [f.name for f in RuleHit._meta.fields]
        if can_view_receiver(request.user):
            return names
        return ["facts_masked" if name == "facts" else name for name in names]

    @admin.display(description=_("facts seen"))
    def facts_masked(self, obj):
        return mask_receiver_mapping(obj.facts or {})

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ExceptionType)
class ExceptionTypeAdmin(ReadOnlyHistoryAdmin):
    list_display = ("code", "type_name", "default_group", "due_minutes", "is_system", "auto_clear")
    list_editable = ("default_group", "due_minutes")
    readonly_fields = ("code", "is_system")

    @admin.display(description=_("name"), ordering="name")
    def type_name(self, obj: ExceptionType) -> str:
        return obj.label  # a seeded name in the reader's language


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(ReadOnlyHistoryAdmin):
    list_display = ("kind", "value", "enabled", "note", "created_by", "created_at")
    list_filter = ("kind", "enabled")
    list_select_related = ("created_by",)  # nullable: the admin's default select_related() skips it
    search_fields = ("value", "normalized", "note")
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# ---- exception to-do ----------------------------------------------------------------------------
WORKBENCH_PAGE = 50  # rows per workbench page
#: what the "My exceptions" page shows of the receiver (masked by orderhub.masking without the permission)
_RECEIVER_SHOWN = (
    "receiver_name",
    "receiver_phone",
    "receiver_province",
    "receiver_city",
    "receiver_district",
    "receiver_address",
)


class OverdueFilter(admin.SimpleListFilter):
    title = _("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", _("Overdue")), ("unassigned", _("Unassigned"))]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(state=TaskState.OPEN, due_at__lt=timezone.now())
        if self.value() == "unassigned":
            return queryset.filter(assignee_user__isnull=True, assignee_group__isnull=True)
        return queryset


def _receiver_max(name: str) -> int:
    return Order._meta.get_field(name).max_length


ACTION_LABELS = {
    "dismiss": _("Dismiss and re-check the order"),
    "edit_address": _("Correct the receiver"),
    "mark_paid": _("Mark paid"),
    "blacklist": _("Add to the blacklist"),
    "release": _("Release to print (stock reserved first)"),
    "cancel": _("Cancel the order"),
    "merge": _("Merge with another order into one parcel"),
}
#: a clearer word for "dismiss" where the type means something particular by it
DISMISS_LABELS = {
    "sku_unmatched": _("SKU mapping fixed: re-check"),
    "out_of_stock": _("Stock arrived: re-check"),
    "waybill_failed": _("Try the waybill again (re-check)"),
    "address_changed": _("New address confirmed"),
    "remark_review": _("Message read: nothing to change"),
    "mergeable": _("Ship separately"),
    "write_back_refused": _("Handled (say how in the note)"),
    "platform_order_closed": _("Handled (say how in the note)"),
    "tracking_problem": _("Handled (say how in the note)"),
    "no_pickup": _("Handled (say how in the note)"),
}
#: the form fields each action needs, besides the note
ACTION_FIELDS = {
    "edit_address": (
        "receiver_name",
        "receiver_phone",
        "receiver_province",
        "receiver_city",
        "receiver_district",
        "receiver_address",
    ),
    "blacklist": ("blacklist_kinds",),
    "merge": ("target_order_id",),
}
#: types whose "handled" needs a note saying what the person did (nothing else records it)
NOTE_REQUIRED = frozenset({"write_back_refused", "platform_order_closed", "tracking_problem", "no_pickup"})


class ResolveForm(forms.Form):
    """Every field any resolve action takes; `resolve_form_for` keeps only what one type needs."""

    action = forms.ChoiceField(label=_("action"), choices=[], widget=forms.RadioSelect)
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    receiver_name = forms.CharField(label=_("receiver name"), required=False, max_length=_receiver_max("receiver_name"))
    receiver_phone = forms.CharField(
        label=_("receiver phone"), required=False, max_length=_receiver_max("receiver_phone")
    )
    receiver_province = forms.CharField(
        label=_("province"), required=False, max_length=_receiver_max("receiver_province")
    )
    receiver_city = forms.CharField(label=_("city"), required=False, max_length=_receiver_max("receiver_city"))
    receiver_district = forms.CharField(
        label=_("district"), required=False, max_length=_receiver_max("receiver_district")
    )
    receiver_address = forms.CharField(label=_("address"), required=False, max_length=_receiver_max("receiver_address"))
    blacklist_kinds = forms.MultipleChoiceField(
        label=_("blacklist"), choices=BlacklistKind.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    target_order_id = forms.IntegerField(label=_("merge into order id"), required=False)

    def __init__(self, *args, type_code: str = "", bulk: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.type_code = type_code
        actions = [a for a in services.actions_for_type(type_code) if not (bulk and a in services.PER_ORDER_ACTIONS)]
        self.fields["action"].choices = [
            (a, DISMISS_LABELS.get(type_code, ACTION_LABELS[a]) if a == "dismiss" else ACTION_LABELS[a])
            for a in actions
        ]
        if len(actions) == 1:
            self.fields["action"].initial = actions[0]
        wanted = {"action", "note", *(name for a in actions for name in ACTION_FIELDS.get(a, ()))}
        for name in list(self.fields):
            if name not in wanted:
                del self.fields[name]
        if type_code in NOTE_REQUIRED:
            self.fields["note"].required = True

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "edit_address" and not any(data.get(name) for name in ACTION_FIELDS["edit_address"]):
            self.add_error("receiver_address", _("Give at least one receiver field to change."))
        if action == "merge" and not data.get("target_order_id"):
            self.add_error("target_order_id", _("Give the order to merge with."))
        return data

    def service_data(self) -> dict:
        data = self.cleaned_data
        action = data["action"]
        if action == "edit_address":
            return {k: v for k, v in data.items() if k.startswith("receiver_") and v}
        if action == "blacklist":
            return {"kinds": data.get("blacklist_kinds") or [BlacklistKind.BUYER_NICK]}
        if action == "merge":
            return {"target_order_id": data["target_order_id"]}
        return {}


class WorkbenchFilterForm(forms.Form):
    """The workbench's filters (GET): every value checked, a bad one ignored with its field's error."""

    exception_type = forms.ModelChoiceField(
        label=_("exception type"), queryset=ExceptionType.objects.order_by("id"), required=False
    )
    channel = forms.ModelChoiceField(label=_("channel"), queryset=None, required=False)
    assignee = forms.ChoiceField(label=_("assignee"), required=False)
    due = forms.ChoiceField(
        label=_("due"),
        required=False,
        choices=[("", _("any time")), ("overdue", _("overdue")), ("1h", _("within 1 h")), ("later", _("later"))],
    )
    age = forms.ChoiceField(
        label=_("age"),
        required=False,
        choices=[
            ("", _("any age")),
            ("lt1h", _("under 1 h")),
            ("1to4h", _("1–4 h")),
            ("4to24h", _("4–24 h")),
            ("gt1d", _("over a day")),
        ],
    )

    def __init__(self, *args, assignees=(), **kwargs):
        from orders.models import Channel

        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = Channel.objects.order_by("platform", "name")
        self.fields["assignee"].choices = [
            ("mine", _("me and my groups")),
            ("unassigned", _("no person yet")),
            ("everyone", _("everyone")),
            *((str(user.pk), user.get_username()) for user in assignees),
        ]

    def filters(self) -> selectors.WorkbenchFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.WorkbenchFilters(
            exception_type=data["exception_type"].pk if data.get("exception_type") else None,
            channel=data["channel"].pk if data.get("channel") else None,
            assignee=data.get("assignee") or "mine",
            due=data.get("due") or "",
            age=data.get("age") or "",
        )


@admin.register(ExceptionTask)
class ExceptionTaskAdmin(ReadOnlyHistoryAdmin):
    list_display = (
        "due_at",
        "exception_type",
        "order_link",
        "ship_by_flag",
        "state",
        "assignee_user",
        "assignee_group",
        "rule",
        "resolution",
        "resolved_by",
        "resolved_at",
    )
    list_filter = ("state", "exception_type", "assignee_group", OverdueFilter, "resolution")
    list_select_related = (
        "order",
        "order__channel",
        "exception_type",
        "rule",
        "assignee_user",
        "assignee_group",
        "resolved_by",
    )
    search_fields = ("order__external_id", "order__buyer_nick", "note")
    readonly_fields = (
        "order",
        "exception_type",
        "rule",
        "state",
        "resolution",
        "note_shown",
        "resolution_note_shown",
        "resolved_by",
        "resolved_at",
        "escalated_at",
        "created_at",
    )
    fields = (
        "order",
        "exception_type",
        "rule",
        "state",
        "assignee_user",
        "assignee_group",
        "due_at",
        "note",
        "resolution",
        "resolution_note_shown",
        "resolved_by",
        "resolved_at",
        "escalated_at",
        "created_at",
    )
    change_list_template = "admin/rules/exceptiontask/change_list.html"
    actions = ["recheck_orders"]

    def has_add_permission(self, request):
        return False

    def get_fields(self, request, obj=None):
        """A note the engine wrote (a code, or the rule's name) reads in the reader's language and is
        not edited by hand; a typed note stays an editable field."""
        fields = list(super().get_fields(request, obj))
        if obj is not None and (obj.note_wording or obj.note_text != obj.note):
            fields[fields.index("note")] = "note_shown"
        return fields

    @admin.display(description=_("note"))
    def note_shown(self, obj):
        return obj.note_text

    @admin.display(description=_("resolution note"))
    def resolution_note_shown(self, obj):
        return obj.resolution_note_text

    @admin.action(description=_("Re-check the orders of the selected tasks"), permissions=["change"])
    def recheck_orders(self, request, queryset):
        order_ids = sorted(set(queryset.values_list("order_id", flat=True)))
        counts = services.recheck_open_orders(order_ids=order_ids)
        self.message_user(request, _("Re-checked: %(counts)s") % {"counts": counts}, messages.SUCCESS)

    @admin.display(description=_("order"))
    def order_link(self, obj):
        return f"{obj.order.channel.platform}:{obj.order.external_id} (#{obj.order_id})"

    @admin.display(description=_("ship by"))
    def ship_by_flag(self, obj):
        order = obj.order
        if order.is_overdue:
            return format_html('<strong style="color:#ba2121">{} · {}</strong>', order.ship_by, _("overdue"))
        if order.is_at_risk:
            return format_html('<strong style="color:#c77c00">{} · {}</strong>', order.ship_by, _("< 1 h left"))
        return order.ship_by or "—"

    def get_urls(self):
        return [
            path("mine/", self.admin_site.admin_view(self.my_exceptions_view), name="rules_exceptiontask_mine"),
            path(
                "<int:task_id>/resolve/",
                self.admin_site.admin_view(self.resolve_view),
                name="rules_exceptiontask_resolve",
            ),
            *super().get_urls(),
        ]

    # ---- the exception workbench ----------------------------------------------------------------
    def my_exceptions_view(self, request):
        """The workbench: open tasks as a filtered, paginated table; POST claims, assigns or
        bulk-resolves the ticked rows (each row's outcome reported)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._workbench_post(request)
        assignees = list(selectors.workbench_assignees()) if request.user.has_perm("rules.assign_exceptiontask") else []
        filter_form = WorkbenchFilterForm(request.GET or None, assignees=assignees)
        filters = filter_form.filters()
        now = timezone.now()
        page, tasks = selectors.workbench_page(
            user=request.user, filters=filters, number=request.GET.get("p"), per_page=WORKBENCH_PAGE, now=now
        )
        counts = selectors.open_task_counts_by_type()
        types = list(ExceptionType.objects.order_by("id"))
        bulk_type = next((t for t in types if t.pk == filters.exception_type), None)
        may_resolve = request.user.has_perm("rules.resolve_exceptiontask")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Exception workbench"),
            "page": page,
            "rows": _workbench_rows(
                tasks,
                now=now,
                next_url=request.get_full_path(),
                may_claim=request.user.has_perm("rules.claim_exceptiontask"),
            ),
            "tasks": tasks,
            "filter_form": filter_form,
            "filter_fields": _filter_fields(filter_form),
            "type_counts": [(t, counts.get(t.pk, 0)) for t in types if counts.get(t.pk)],
            "total_open": sum(counts.values()),
            "bulk_type": bulk_type,
            "bulk_form": ResolveForm(type_code=bulk_type.code, bulk=True, prefix="bulk")
            if bulk_type and may_resolve
            else None,
            "assignees": assignees,
            "may_claim": request.user.has_perm("rules.claim_exceptiontask"),
            "query_without_page": _query_without(request.GET, "p"),
            "now": now,
        }
        return TemplateResponse(request, "admin/rules/workbench.html", context)

    def _workbench_post(self, request):
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, {request.get_host()}, request.is_secure()):
            back = reverse("admin:rules_exceptiontask_mine")
        ids = sorted({int(v) for v in request.POST.getlist("task") if v.isdigit()})
        op = "claim" if request.POST.get("claim") else request.POST.get("op", "")
        needed = {"claim": "claim", "assign": "assign", "resolve": "resolve"}.get(op)
        if needed and not request.user.has_perm(f"rules.{needed}_exceptiontask"):
            raise PermissionDenied
        try:
            if request.POST.get("claim", "").isdigit():
                outcomes = services.exceptions_claim_bulk(task_ids=[int(request.POST["claim"])], actor=request.user)
            elif not ids:
                messages.error(request, _("Tick at least one task."))
                return HttpResponseRedirect(back)
            elif op == "claim":
                outcomes = services.exceptions_claim_bulk(task_ids=ids, actor=request.user)
            elif op == "assign":
                assignee = request.POST.get("assignee", "")
                if not assignee.isdigit():
                    messages.error(request, _("Choose the person to assign to."))
                    return HttpResponseRedirect(back)
                outcomes = services.exceptions_assign(task_ids=ids, assignee_id=int(assignee), actor=request.user)
            elif op == "resolve":
                outcomes = self._bulk_resolve(request, ids)
                if outcomes is None:
                    return HttpResponseRedirect(back)
            else:
                messages.error(request, _("Unknown workbench action."))
                return HttpResponseRedirect(back)
        except RulesError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(back)
        done = [o.task_id for o in outcomes if o.ok]
        if done:
            messages.success(
                request,
                _("Done for %(count)d task(s): %(ids)s.") % {"count": len(done), "ids": ", ".join(map(str, done))},
            )
        for outcome in outcomes:
            if not outcome.ok:
                messages.error(
                    request,
                    _("Task %(id)s not changed: %(reason)s") % {"id": outcome.task_id, "reason": outcome.message},
                )
        return HttpResponseRedirect(back)

    def _bulk_resolve(self, request, ids: list[int]):
        if not request.user.has_perm("rules.resolve_exceptiontask"):
            raise PermissionDenied
        codes = set(ExceptionTask.objects.filter(pk__in=ids).values_list("exception_type__code", flat=True))
        if len(codes) != 1:
            messages.error(request, _("A bulk resolve takes tasks of one exception type: filter by type first."))
            return None
        form = ResolveForm(request.POST, type_code=codes.pop(), bulk=True, prefix="bulk")
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields else ""
                messages.error(request, f"{label}: {' '.join(errors)}" if label else " ".join(errors))
            return None
        return services.exceptions_resolve_bulk(
            task_ids=ids,
            actor=request.user,
            action=form.cleaned_data["action"],
            note=form.cleaned_data["note"],
            data=form.service_data(),
        )

    def resolve_view(self, request, task_id: int):
        """One task: the order in short, why it is held (facts in words), and the form its type needs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        task = get_object_or_404(
            ExceptionTask.objects.select_related(
                "order", "order__channel", "exception_type", "rule", "assignee_user", "assignee_group", "resolved_by"
            ),
            pk=task_id,
        )
        code = task.exception_type.code
        form = ResolveForm(request.POST or None, type_code=code)
        if request.method == "POST" and form.is_valid():
            try:
                task = services.exception_resolve(
                    task_id=task.pk,
                    actor=request.user,
                    action=form.cleaned_data["action"],
                    note=form.cleaned_data["note"],
                    data=form.service_data(),
                )
            except (RulesError, OrderError) as exc:
                form.add_error(None, str(exc))
            else:
                order = Order.objects.get(pk=task.order_id)
                messages.success(
                    request,
                    _("Task %(id)s resolved (%(resolution)s); the order is now %(state)s.")
                    % {
                        "id": task.pk,
                        "resolution": task.get_resolution_display(),
                        "state": order.get_state_display(),
                    },
                )
                next_url = request.POST.get("next", "")
                if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                    next_url = reverse("admin:rules_exceptiontask_mine")
                return HttpResponseRedirect(next_url)
        reveal = can_view_receiver(request.user)
        order = task.order
        receiver = {name: getattr(order, name) for name in _RECEIVER_SHOWN}
        if not reveal:
            receiver = mask_receiver_mapping(receiver)
        hit = selectors.latest_hits(tasks=[task]).get((task.order_id, task.rule_id))
        facts = {name: value for name, _label, value in selectors.order_facts(order=order)}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Resolve: %(type)s") % {"type": task.exception_type.label},
            "task": task,
            "order": order,
            "receiver": receiver,
            "hit": hit,
            "hit_facts": selectors.facts_in_words(hit.facts or {}, reveal=reveal) if hit else [],
            "all_facts": selectors.facts_in_words(facts, reveal=reveal),
            "form": form,
            "plain_fields": [form[name] for name in ("action", "note") if name in form.fields],
            "action_fields": [
                (action, ACTION_LABELS[action], [form[name] for name in names if name in form.fields])
                for action, names in ACTION_FIELDS.items()
                if any(name in form.fields for name in names)
            ],
            "may_resolve": task.state == TaskState.OPEN and services.can_resolve(task=task, actor=request.user),
            "next": request.GET.get("next") or request.POST.get("next") or "",
        }
        return TemplateResponse(request, "admin/rules/resolve.html", context, status=400 if form.errors else 200)


def _short_time(value) -> str:
    return timezone.localtime(value).strftime("%m-%d %H:%M") if value else "—"


def _age_text(delta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return gettext("%(m)d min") % {"m": minutes}
    if minutes < 24 * 60:
        return gettext("%(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}
    return gettext("%(d)d d %(h)d h") % {"d": minutes // 1440, "h": minutes % 1440 // 60}


_ROW_HTML = (
    '<tr class="{}" data-task="{}">'
    '<td><input type="checkbox" name="task" value="{}" aria-label="{} {}"></td>'
    "<td>{}</td>"
    '<td class="wb-order"><a href="{}">{}</a> <span class="quiet">#{}</span></td>'
    "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
    "<td>{}{}</td></tr>"
)


def _workbench_rows(tasks: list[ExceptionTask], *, now, next_url: str, may_claim: bool) -> list[str]:
    """Each table row as HTML, built once in Python with format_html (escaped): 50 rows of template
    tags (url, date, timesince, with) cost several times the page's queries."""
    from urllib.parse import quote

    order_url = reverse("admin:orders_order_change", args=[0]).replace("/0/", "/{}/")
    resolve_url = reverse("admin:rules_exceptiontask_resolve", args=[0]).replace("/0/", "/{}/")
    back = quote(next_url, safe="")
    at_risk = now + timezone.timedelta(hours=1)
    tick, overdue, claim, resolve = gettext("tick"), gettext("overdue"), gettext("Claim"), gettext("Resolve")
    states = dict(Order._meta.get_field("state").flatchoices)
    rows = []
    for index, task in enumerate(tasks):
        order = task.order
        if task.assignee_user_id:
            assignee = format_html("<strong>{}</strong>", task.assignee_user.get_username())
        else:
            assignee = format_html(
                '<span class="quiet">{}</span>', task.assignee_group.label if task.assignee_group else "—"
            )
        due = _short_time(task.due_at)
        if task.due_at < now:
            due = format_html('<span class="wb-late">{} · {}</span>', due, overdue)
        ship_by = _short_time(order.ship_by)
        if order.ship_by is not None and order.ship_by < at_risk:
            ship_by = format_html(
                '<span class="{}">{}</span>', "wb-late" if order.ship_by < now else "wb-risk", ship_by
            )
        claim_button = (
            format_html('<button type="submit" name="claim" value="{}" class="button">{}</button> ', task.pk, claim)
            if may_claim and not task.assignee_user_id
            else ""
        )
        rows.append(
            format_html(
                _ROW_HTML,
                "row1" if index % 2 == 0 else "row2",
                task.pk,
                task.pk,
                tick,
                task.pk,
                task.exception_type.label,
                order_url.format(order.pk),
                order.external_id,
                order.pk,
                order.channel.name,
                states.get(order.state, order.state),
                assignee,
                due,
                _age_text(now - task.created_at),
                ship_by,
                claim_button,
                format_html('<a class="button" href="{}?next={}">{}</a>', resolve_url.format(task.pk), back, resolve),
            )
        )
    return rows


def _filter_fields(form: WorkbenchFilterForm) -> list[tuple[str, str, list[tuple[str, str, bool]]]]:
    """(name, label, [(value, text, selected)]) of each filter, rendered as plain selects."""
    fields = []
    for name, field in form.fields.items():
        current = str(form.data.get(name, "")) if form.is_bound else ""
        if name == "assignee" and not current:
            current = "mine"
        options = [(str(value), str(text), str(value) == current) for value, text in field.choices]
        fields.append((name, str(field.label), options))
    return fields


def _query_without(query, name: str) -> str:
    params = query.copy()
    params.pop(name, None)
    return params.urlencode()
