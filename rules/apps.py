from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RulesConfig(AppConfig):
    name = "rules"
    verbose_name = _("Rules")

    def ready(self) -> None:
        from django.contrib.auth.models import Group

        from rules import labels, signals, texts  # noqa: F401  (seeded names as texts; cache invalidation receivers)

        texts.register()

        # Exception types route to Django's own groups; the seeded ones ("Customer service") read in
        # the reader's language wherever a group is shown: admin columns, filters, pickers, pages.
        Group.label = property(lambda group: labels.group_label(group.name))
        Group.__str__ = lambda group: labels.group_label(group.name)
