"""OrderHub's admin site: the index page opens with what needs attention now."""

from __future__ import annotations

from axes.apps import AppConfig as AxesConfig
from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

#: names that third-party apps show in the admin but translate into no Simplified Chinese of their
#: own (django-axes ships none): marked here so the project catalogue, which wins, translates them
THIRD_PARTY_LABELS = (
    _("access attempt"),
    _("access attempts"),
    _("access failure"),
    _("access failures"),
    _("access log"),
    _("access logs"),
)


class LoginProtectionConfig(AxesConfig):
    """django-axes under a name ops staff understand, in their language (its own is "Axes")."""

    verbose_name = _("Login protection")


class OrderHubAdminSite(admin.AdminSite):
    site_header = _("OrderHub order hub")
    site_title = _("OrderHub")
    index_title = _("Operations console")
    index_template = "admin/orderhub_index.html"

    def index(self, request, extra_context=None):
        from orderhub import selectors  # models are not loaded when the app config imports this module

        extra_context = {**(extra_context or {}), "summary": selectors.ops_summary(user=request.user)}
        return super().index(request, extra_context)

    def get_urls(self):
        from orders.workflow_admin import workflow_urls  # models are not loaded at import time

        return [*workflow_urls(self), *super().get_urls()]

    def get_app_list(self, request, app_label=None):
        """The workflow page as an entry of the Orders app (app list and nav sidebar)."""
        from orders.workflow_admin import workflow_app_entry

        app_list = super().get_app_list(request, app_label)
        entry = workflow_app_entry(request)
        for app in app_list:
            if entry and app["app_label"] == "orders":
                app["models"].insert(0, entry)
        return app_list


class OrderHubAdminConfig(AdminConfig):
    """django.contrib.admin with OrderHub's site (INSTALLED_APPS names this instead of the admin)."""

    default_site = "orderhub.admin_site.OrderHubAdminSite"

    def ready(self) -> None:
        super().ready()
        from orderhub.roles import ensure_roles_after_migrate

        # The roles (groups) the admin and the API grant by, after every migrate: orderhub/roles.py
        # says why not a data migration. Connected here because this is the project package's one
        # AppConfig (an orderhub/apps.py would take orderhub/ out of the project's translation
        # catalogue, see the Makefile).
        post_migrate.connect(ensure_roles_after_migrate, dispatch_uid="orderhub.ensure_roles")
