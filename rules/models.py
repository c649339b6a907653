"""Intercept rules (data, never code), the hits they record, the exception to-do list and the blacklist."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords

from orders import texts
from rules.conditions import OPERATOR_CHOICES, ConditionError, validate_condition
from rules.facts import fact_choices
from rules.labels import SEEDED_RULE_NAMES, SEEDED_TYPE_NAMES, seeded_name


class ExceptionType(models.Model):
    """One of the exception kinds (12 built in); who gets the to-do by default and how soon it is due."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("raised when"), blank=True)
    default_group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("default group")
    )
    default_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("default assignee"),
        help_text=_("A person who gets every new to-do of this type (a rule's assignee wins)."),
    )
    round_robin = models.BooleanField(
        _("hand out in turn"),
        default=False,
        help_text=_("Give each new to-do without a named person to the next active member of its group, in turn."),
    )
    due_minutes = models.PositiveIntegerField(_("due within (minutes)"), default=60)
    is_system = models.BooleanField(
        _("system check"), default=False, help_text=_("Raised by code (stock, SKU mapping, platform, shipping).")
    )
    auto_clear = models.BooleanField(
        _("clears automatically"),
        default=True,
        help_text=_("A re-check that no longer raises this type resolves its open to-do by itself."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("exception type")
        verbose_name_plural = _("exception types")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.code})"

    @property
    def label(self) -> str:
        """The name in the reader's language while it is the seeded one; a renamed row as typed."""
        return seeded_name(SEEDED_TYPE_NAMES, self.code, self.name)


class RuleMode(models.TextChoices):
    ACTIVE = "active", _("Active (enforced)")
    SHADOW = "shadow", _("Shadow (record only)")


class RuleAction(models.TextChoices):
    HOLD = "hold", _("Hold as an exception")
    LANE = "lane", _("Route to a lane")
    TAG = "tag", _("Add a tag")
    PRIORITY = "priority", _("Set priority")


class Combinator(models.TextChoices):
    ALL = "all", _("All conditions (AND)")
    ANY = "any", _("Any condition (OR)")


class InterceptRule(models.Model):
    name = models.CharField(_("name"), max_length=120)
    code = models.SlugField(
        _("built-in code"), max_length=60, unique=True, null=True, blank=True, help_text=_("Set on seeded rules.")
    )
    description = models.TextField(_("description"), blank=True)
    position = models.IntegerField(
        _("priority order"), default=100, help_text=_("Lower runs first. Lane rules always run before the others.")
    )
    combinator = models.CharField(_("combine conditions"), max_length=3, choices=Combinator.choices, default="all")
    action = models.CharField(_("action"), max_length=10, choices=RuleAction.choices, default=RuleAction.HOLD)
    exception_type = models.ForeignKey(
        ExceptionType, null=True, blank=True, on_delete=models.PROTECT, related_name="rules", verbose_name=_("hold as")
    )
    lane = models.CharField(_("lane"), max_length=24, blank=True)
    tag = models.CharField(_("tag"), max_length=40, blank=True)
    set_priority = models.SmallIntegerField(_("priority to set"), null=True, blank=True)
    assign_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assign to user"),
    )
    assign_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("assign to group"),
        help_text=_("Empty: the exception type's default group."),
    )
    due_minutes = models.PositiveIntegerField(
        _("due within (minutes)"), null=True, blank=True, help_text=_("Empty: the exception type's default.")
    )
    skip_lanes = models.CharField(
        _("not in lanes"),
        max_length=200,
        blank=True,
        help_text=_("Comma-separated lanes (e.g. promotion) whose orders this rule leaves alone."),
    )
    mode = models.CharField(_("mode"), max_length=10, choices=RuleMode.choices, default=RuleMode.ACTIVE)
    rollout_percent = models.PositiveSmallIntegerField(
        _("rollout (%)"),
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Share of orders the rule acts on (stable per order); elsewhere its hits are shadow hits."),
    )
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("intercept rule")
        verbose_name_plural = _("intercept rules")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(rollout_percent__lte=100), name="rule_rollout_at_most_100"),
        ]

    def __str__(self) -> str:
        return self.label

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("update_fields"):
            self.version = (self.version or 0) + 1
        super().save(*args, **kwargs)

    @property
    def label(self) -> str:
        """The name in the reader's language while it is the seeded one; a renamed row as typed."""
        return seeded_name(SEEDED_RULE_NAMES, self.code, self.name)

    @property
    def skip_lane_list(self) -> list[str]:
        return [lane.strip() for lane in self.skip_lanes.replace("，", ",").split(",") if lane.strip()]

    def clean(self) -> None:
        from orders.models import Lane

        errors: dict[str, str] = {}
        lanes = {value for value, _label in Lane.choices if value}
        if self.action == RuleAction.HOLD and not self.exception_type_id:
            errors["exception_type"] = _("A hold rule needs the exception type to hold as.")
        if self.action == RuleAction.LANE and self.lane not in lanes:
            errors["lane"] = _("Choose one of the lanes: %(lanes)s.") % {"lanes": ", ".join(sorted(lanes))}
        if self.action == RuleAction.TAG and not self.tag.strip():
            errors["tag"] = _("A tag rule needs the tag to add.")
        if self.action == RuleAction.PRIORITY and self.set_priority is None:
            errors["set_priority"] = _("A priority rule needs the priority to set.")
        unknown = [lane for lane in self.skip_lane_list if lane not in lanes]
        if unknown:
            errors["skip_lanes"] = _("Unknown lanes: %(lanes)s.") % {"lanes": ", ".join(unknown)}
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            errors["valid_until"] = _("“Valid until” must be after “valid from”.")
        if self.rollout_percent is not None and self.rollout_percent > 100:
            errors["rollout_percent"] = _("At most 100.")
        if errors:
            raise ValidationError(errors)


class RuleCondition(models.Model):
    """One row: field / operator / value. The value is text, parsed by the field's type when validated."""

    rule = models.ForeignKey(InterceptRule, on_delete=models.CASCADE, related_name="conditions")
    position = models.PositiveSmallIntegerField(_("row"), default=0)
    field = models.CharField(_("field"), max_length=40, choices=fact_choices)
    operator = models.CharField(_("operator"), max_length=16, choices=OPERATOR_CHOICES)
    value = models.CharField(_("value"), max_length=500, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        ordering = ["rule_id", "position", "id"]

    def __str__(self) -> str:
        return f"{self.field} {self.operator} {self.value}".strip()

    def clean(self) -> None:
        try:
            validate_condition(self.field, self.operator, self.value)
        except ConditionError as exc:
            raise ValidationError({exc.field: exc.message}) from None


class RulesetVersion(models.Model):
    """One row whose number changes whenever a rule, condition, exception type or blacklist entry does:
    each process keeps its compiled rule set until the number moves."""

    version = models.BigIntegerField(default=1)
    # A fresh random token on every bump: a rolled-back transaction can bring an old number back,
    # never an old token with different rules behind it.
    token = models.CharField(max_length=32, default="initial")

    def __str__(self) -> str:
        return f"ruleset v{self.version}"

    @classmethod
    def bump(cls) -> None:
        token = uuid.uuid4().hex
        if not cls.objects.filter(pk=1).update(version=F("version") + 1, token=token):
            cls.objects.update_or_create(pk=1, defaults={"token": token})

    @classmethod
    def current(cls) -> tuple[int, str]:
        row = cls.objects.filter(pk=1).values_list("version", "token").first()
        return row or (0, "")


class RuleHit(models.Model):
    """A rule matched an order: enforced (it acted) or shadow (recorded only)."""

    rule = models.ForeignKey(InterceptRule, on_delete=models.CASCADE, related_name="hits")
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="rule_hits")
    rule_version = models.PositiveIntegerField(_("rule version"))
    enforced = models.BooleanField(_("enforced"))
    mode = models.CharField(_("mode"), max_length=10, choices=RuleMode.choices)
    in_rollout = models.BooleanField(_("in rollout"))
    trigger = models.CharField(_("trigger"), max_length=24)
    facts = models.JSONField(_("facts seen"), default=dict)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("rule hit")
        verbose_name_plural = _("rule hits")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["rule", "at"])]

    def __str__(self) -> str:
        return f"{self.rule_id}@{self.order_id} {'enforced' if self.enforced else 'shadow'}"


class TaskState(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class Resolution(models.TextChoices):
    CLEARED = "cleared", _("Cleared by a re-check")
    EDITED_ADDRESS = "edited_address", _("Address edited")
    MARKED_PAID = "marked_paid", _("Marked paid")
    BLACKLISTED = "blacklisted", _("Added to blacklist")
    RELEASED = "released", _("Released as is")
    CANCELLED = "cancelled", _("Order cancelled")
    MERGED = "merged", _("Merged into another order")
    DISMISSED = "dismissed", _("Dismissed")


# A person's decision that the exception does not apply: a later re-check does not raise it again.
OVERRIDING_RESOLUTIONS = (Resolution.RELEASED, Resolution.MARKED_PAID, Resolution.DISMISSED, Resolution.MERGED)


class ExceptionTaskQuerySet(models.QuerySet):
    def open(self):
        return self.filter(state=TaskState.OPEN)

    def for_user(self, user):
        return self.filter(Q(assignee_user=user) | Q(assignee_group__in=user.groups.all())).distinct()


class ExceptionTask(models.Model):
    """The to-do item: an order held for one exception type, for a person or group, due by a time."""

    order = models.ForeignKey(
        "orders.Order", on_delete=models.CASCADE, related_name="exception_tasks", verbose_name=_("order")
    )
    exception_type = models.ForeignKey(
        ExceptionType, on_delete=models.PROTECT, related_name="tasks", verbose_name=_("exception type")
    )
    rule = models.ForeignKey(
        InterceptRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks", verbose_name=_("rule")
    )
    state = models.CharField(_("state"), max_length=10, choices=TaskState.choices, default=TaskState.OPEN)
    assignee_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exception_tasks",
        verbose_name=_("assignee"),
    )
    assignee_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=pgettext_lazy("exception task", "group"),
    )
    due_at = models.DateTimeField(_("due at"), db_index=True)
    note = models.TextField(_("note"), blank=True)
    #: a note the engine or a service wrote, as a code with parameters (rules.texts); `note` keeps its English
    note_wording = models.JSONField(_("note (code)"), default=dict, blank=True, editable=False)
    resolution = models.CharField(_("resolution"), max_length=20, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(_("resolution note"), blank=True)
    resolution_wording = models.JSONField(_("resolution note (code)"), default=dict, blank=True, editable=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    created_at = models.DateTimeField(_("raised at"), default=timezone.now)
    history = HistoricalRecords()

    objects = ExceptionTaskQuerySet.as_manager()

    class Meta:
        verbose_name = _("exception task")
        verbose_name_plural = _("exception tasks")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "exception_type"], condition=Q(state="open"), name="one_open_task_per_order_type"
            )
        ]
        indexes = [
            models.Index(fields=["state", "due_at"]),
            # the workbench filters open tasks by type, person or group, soonest due first
            models.Index(fields=["state", "exception_type", "due_at"], name="task_state_type_due"),
            models.Index(fields=["state", "assignee_user", "due_at"], name="task_state_user_due"),
            models.Index(fields=["state", "assignee_group", "due_at"], name="task_state_group_due"),
        ]
        permissions = [
            ("resolve_exceptiontask", _("Can resolve exception tasks")),
            ("claim_exceptiontask", _("Can claim exception tasks")),
            ("assign_exceptiontask", _("Can assign exception tasks to a person")),
        ]

    def __str__(self) -> str:
        return f"{self.exception_type.code} · {self.order_id}"

    @property
    def is_overdue(self) -> bool:
        return self.state == TaskState.OPEN and self.due_at < timezone.now()

    @property
    def note_text(self) -> str:
        """Why the to-do was opened, in the reader's language: a coded note rendered, a rule's name
        as the rule's label (seeded rules are translated), a typed note as typed."""
        if not self.note_wording and self.rule_id and self.note == self.rule.name:
            return self.rule.label
        return texts.render(self.note_wording, fallback=self.note)

    @property
    def resolution_note_text(self) -> str:
        return texts.render(self.resolution_wording, fallback=self.resolution_note)


class RoundRobinCursor(models.Model):
    """Who in a group got the last to-do handed out in turn: the next one goes to the member after
    them (by user id). One row per group, locked while a to-do is handed out (rules.locks)."""

    group = models.OneToOneField(Group, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self) -> str:
        return f"{self.group_id} → {self.last_user_id}"


class BlacklistKind(models.TextChoices):
    BUYER_NICK = "buyer_nick", _("Buyer nick")
    PHONE = "phone", _("Phone")
    ADDRESS = "address", _("Address (fragment)")


class BlacklistEntry(models.Model):
    kind = models.CharField(_("kind"), max_length=12, choices=BlacklistKind.choices)
    value = models.CharField(_("value"), max_length=300)
    normalized = models.CharField(_("normalised"), max_length=300, editable=False)
    note = models.TextField(_("note"), blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("added at"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("blacklist entry")
        verbose_name_plural = _("blacklist")
        ordering = ["kind", "value"]
        constraints = [models.UniqueConstraint(fields=["kind", "normalized"], name="blacklist_unique_value")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"

    def save(self, *args, **kwargs):
        self.normalized = self.normalize(self.kind, self.value)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.normalized = self.normalize(self.kind, self.value)
        if not self.normalized:
            raise ValidationError({"value": _("Nothing left to match after normalising.")})
        if self.kind == BlacklistKind.ADDRESS and len(self.normalized) < 4:
            raise ValidationError({"value": _("An address fragment needs at least 4 characters.")})
        # The (kind, normalized) constraint is not checked by the admin form (normalized is not a form
        # field): without this, a duplicate is an IntegrityError.
        duplicate = (
            BlacklistEntry.objects.filter(kind=self.kind, normalized=self.normalized).exclude(pk=self.pk).first()
        )
        if duplicate is not None:
            raise ValidationError({"value": _("Already on the blacklist as “%(value)s”.") % {"value": duplicate.value}})

    @staticmethod
    def normalize(kind: str, value: str) -> str:
        from rules.facts import normalize_address, normalize_nick, normalize_phone

        if kind == BlacklistKind.PHONE:
            return normalize_phone(value)
        if kind == BlacklistKind.ADDRESS:
            return normalize_address(value)
        return normalize_nick(value)


class BacktestState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class BacktestRun(models.Model):
    """One backtest of a rule over a period, run by a background task; its progress and stored result.

    The admin only creates the row and enqueues the task (a backtest over a million orders must never
    hold a web worker); the page reads this row. Matched order ids are not stored, only counts and samples.
    """

    FINISHED = (BacktestState.DONE, BacktestState.FAILED, BacktestState.CANCELLED)

    rule = models.ForeignKey(
        InterceptRule, on_delete=models.CASCADE, related_name="backtest_runs", verbose_name=_("rule")
    )
    rule_version = models.PositiveIntegerField(_("rule version"))
    since = models.DateTimeField(_("orders received from"))
    until = models.DateTimeField(_("orders received until"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    state = models.CharField(_("state"), max_length=10, choices=BacktestState.choices, default=BacktestState.QUEUED)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    progress_done = models.PositiveIntegerField(_("orders evaluated"), default=0)
    progress_total = models.PositiveIntegerField(_("orders to evaluate"), default=0)
    method = models.CharField(_("evaluated by"), max_length=12, blank=True)
    total_orders = models.PositiveIntegerField(_("orders in the period"), null=True, blank=True)
    matched_count = models.PositiveIntegerField(_("matched"), null=True, blank=True)
    would_act_count = models.PositiveIntegerField(_("would act on"), null=True, blank=True)
    held_now_count = models.PositiveIntegerField(_("held by the current rule set"), null=True, blank=True)
    newly_held_count = models.PositiveIntegerField(_("newly held"), null=True, blank=True)
    no_longer_held_count = models.PositiveIntegerField(_("no longer held"), null=True, blank=True)
    #: per channel: [{"channel_id", "channel", "platform", "matched", "would_act"}]
    groups = models.JSONField(_("per channel"), default=list, blank=True)
    sample_order_ids = models.JSONField(_("sample orders"), default=list, blank=True)
    newly_held_sample = models.JSONField(_("newly held (sample)"), default=list, blank=True)
    no_longer_held_sample = models.JSONField(_("no longer held (sample)"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("backtest run")
        verbose_name_plural = _("backtest runs")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["rule", "-created_at"], name="backtest_rule_recent")]

    def __str__(self) -> str:
        return f"{self.rule_id} v{self.rule_version} {self.since:%Y-%m-%d}–{self.until:%Y-%m-%d} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED

    @property
    def percent(self) -> int:
        if self.state == BacktestState.DONE:
            return 100
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None
