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
    # the admin index's screen-reader headers, which Django's own catalogue leaves in English
    _("Model name"),
    _("Add link"),
    _("Change or view list link"),
)


#: Django's own admin strings whose Simplified Chinese reads badly to ops staff ("选择 订单 来修改",
#: "动作", "增加"): marked here so the project catalogue (locale/, which wins over Django's) words them
#: as the rest of the console does (新增, 批量操作, 筛选). Only the strings ops see every day.
DJANGO_ADMIN_OVERRIDES = (
    _("Select %s to change"),
    _("Add %(name)s"),
    _("Add"),
    _("Action:"),
    _("Run the selected action"),
    _("Delete selected %(verbose_name_plural)s"),
    _("Select all %(total_count)s %(module_name)s"),
    _("Save and add another"),
    _("Recent actions"),
    _("My actions"),
    _("None available"),
    _("Filter"),
    _("Log out"),
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
        from orderhub import dashboard  # models are not loaded when the app config imports this module
        from orderhub.admin_dashboard import dashboard_context, list_urls

        figures = dashboard.dashboard(user=request.user)
        extra_context = {**(extra_context or {}), **dashboard_context(figures, list_urls(request, self))}
        return super().index(request, extra_context)

    def get_urls(self):
        from orders.workflow_admin import workflow_urls  # models are not loaded at import time

        return [*workflow_urls(self), *super().get_urls()]

    def get_app_list(self, request, app_label=None):
        """Business sections first, in the order of the day's work; technical ones (task queue, API
        tokens, users, login protection) last. The workflow page is an entry of the Orders app."""
        from orders.workflow_admin import workflow_app_entry

        apps = super().get_app_list(request, app_label)
        entry = workflow_app_entry(request)
        for app in apps:
            if entry and app["app_label"] == "orders":
                app["models"].insert(0, entry)
        return sorted(apps, key=lambda app: _APP_ORDER.get(app["app_label"], _UNLISTED_APPS))


#: the index's sections, top to bottom
_APP_ORDER = {
    label: position
    for position, label in enumerate(
        ["orders", "rules", "shipping", "inventory", "auth", "authtoken", "django_q", "axes", "simple_history"]
    )
}


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


#: apps not named above: after the business sections, before the technical ones
_UNLISTED_APPS = _APP_ORDER["auth"] - 0.5
