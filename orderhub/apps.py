from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrderHubConfig(AppConfig):
    name = "orderhub"
    verbose_name = _("OrderHub")

    def ready(self) -> None:
        from orderhub.roles import ensure_roles_after_migrate

        # roles (groups) after every migrate: see orderhub/roles.py for why not a data migration.
        # No sender: this app has no models, so Django sends it no post_migrate of its own.
        post_migrate.connect(ensure_roles_after_migrate, dispatch_uid="orderhub.ensure_roles")
