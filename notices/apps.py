from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NoticesConfig(AppConfig):
    name = "notices"
    verbose_name = _("Buyer notices")

    def ready(self) -> None:
        from notices import signals  # noqa: F401  (a new buyer notice wakes the drain after its commit)
