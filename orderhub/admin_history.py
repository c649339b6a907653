"""History pages to read, never to revert, and never to leak.

simple-history's "revert" saves an old version of the row straight back, past the services: an
order would leave its state machine, a task would reopen behind its order, a channel's pull cursor
could jump. Its own setting only hides the button, so the save itself is refused here.

The change diffs on the history list are masked like every other page (orderhub/masking.py): no
secret value, and receiver details only for users allowed to see them. The history form reuses the
admin's own form, fieldsets and read-only fields, so it masks exactly as the change page does."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin

from orderhub.admin_masking import MaskingHistoryHelper
from orderhub.masking import can_view_receiver


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_historical_record_context_helper(self, request, historical_record) -> MaskingHistoryHelper:
        return MaskingHistoryHelper(self.model, historical_record, reveal_receiver=can_view_receiver(request.user))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services (ledgers, outbox rows, scan records): look, never touch."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows of a parent written only by services (parcel lines, attempts, receipts, tracking events):
    listed on the parent's page, never added, changed or deleted there. Subclasses set `model` and
    `fields`; every field (display methods included) is shown read-only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return [*self.fields, *self.readonly_fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
