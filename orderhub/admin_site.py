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
        from orderhub import selectors  # models are not loaded when the app config imports this module

        extra_context = {**(extra_context or {}), "summary": selectors.ops_summary(user=request.user)}
        return super().index(request, extra_context)


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
