from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ShippingConfig(AppConfig):
    name = "shipping"
    verbose_name = _("Shipping")

    def ready(self) -> None:
        from shipping import signals, texts  # noqa: F401  (ready orders feed the print queue; refunds open returns)

        texts.register()  # stored notes as codes, rendered in the reader's language
        from shipping.notices import signals as notice_signals  # noqa: F401  (a new notice wakes the drain)
