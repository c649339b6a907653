from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = _("Rules")

    def ready(self) -> None:
        from rules import labels, signals  # noqa: F401  (seeded names as texts; cache invalidation receivers)
