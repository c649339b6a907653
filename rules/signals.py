"""Cache invalidation only: any change to what the compiled rule set is built from moves the ruleset
version, so every process recompiles on its next evaluation. No business logic lives here."""

from __future__ import annotations

from django.db.models import F
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from rules.models import BlacklistEntry, ExceptionType, InterceptRule, RuleCondition, RulesetVersion


@receiver([post_save, post_delete], sender=InterceptRule)
@receiver([post_save, post_delete], sender=BlacklistEntry)
@receiver([post_save, post_delete], sender=ExceptionType)
def _ruleset_changed(sender, **kwargs) -> None:
    RulesetVersion.bump()


@receiver([post_save, post_delete], sender=RuleCondition)
def _condition_changed(sender, instance: RuleCondition, **kwargs) -> None:
    InterceptRule.objects.filter(pk=instance.rule_id).update(version=F("version") + 1)
    RulesetVersion.bump()
