"""History pages to read, never to revert.

simple-history's "revert" saves an old version of the row straight back, past the services: an
order would leave its state machine, a task would reopen behind its order, a channel's pull cursor
could jump. Its own setting only hides the button, so the save itself is refused here."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class ReadOnlyHistoryAdmin(SimpleHistoryAdmin):
    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)
