"""Admin side of orderhub/masking.py: receiver details masked for staff without the permission,
secrets never shown, on change lists, change pages, search and history pages alike.

A ModelAdmin that shows a model with receiver fields mixes in `ReceiverMaskingAdmin`; every history
admin (ReadOnlyHistoryAdmin) masks its change diffs with `MaskingHistoryHelper`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.template_utils import HistoricalRecordContextHelper

from orderhub.masking import (
    RECEIVER_FIELDS,
    RECEIVER_LABELS,
    SECRET_FIELDS,
    SECRET_LABELS,
    can_view_receiver,
    mask_receiver_field,
    mask_secret,
)

MASKED_PREFIX = "masked_"


def _masked_display(name: str) -> Callable[[Any, Any], Any]:
    def show(self: Any, obj: Any) -> Any:
        return mask_receiver_field(name, getattr(obj, name, ""))

    return admin.display(description=RECEIVER_LABELS[name])(show)


def _search_field_is_receiver(term: str) -> bool:
    return term.lstrip("=^@").split("__")[-1] in RECEIVER_FIELDS


class ReceiverMaskingAdmin(admin.ModelAdmin):
    """Receiver name, phone, street address (and `receiver_only_fields`, e.g. the native payload)
    in full only for users with orders.view_receiver_details. Without it the list, the change page
    and the history form show masked values, and search ignores the receiver columns (so a phone
    number cannot be confirmed by searching for it)."""

    #: fields or display methods shown only to users who may see receiver details
    receiver_only_fields: Sequence[str] = ()

    def _reveal(self, request: HttpRequest) -> bool:
        return can_view_receiver(request.user)

    def _mask_names(self, names: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for name in names:
            if name in self.receiver_only_fields:
                continue
            out.append(MASKED_PREFIX + name if isinstance(name, str) and name in RECEIVER_FIELDS else name)
        return out

    def get_list_display(self, request: HttpRequest) -> Sequence[Any]:
        names = super().get_list_display(request)
        return names if self._reveal(request) else self._mask_names(names)

    def get_list_display_links(self, request: HttpRequest, list_display: Sequence[Any]) -> Sequence[Any] | None:
        links = super().get_list_display_links(request, list_display)
        return links if links is None or self._reveal(request) else self._mask_names(links)

    def get_search_fields(self, request: HttpRequest) -> Sequence[str]:
        terms = super().get_search_fields(request)
        return terms if self._reveal(request) else [t for t in terms if not _search_field_is_receiver(t)]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[Any, dict[str, Any]]]:
        fieldsets = super().get_fieldsets(request, obj)
        if self._reveal(request):
            return fieldsets
        return [(title, {**options, "fields": self._mask_fields(options["fields"])}) for title, options in fieldsets]

    def _mask_fields(self, fields: Sequence[Any]) -> list[Any]:
        out: list[Any] = []
        for entry in fields:
            if isinstance(entry, (list, tuple)):  # several fields on one line
                out.append(tuple(self._mask_names(entry)))
            elif entry not in self.receiver_only_fields:
                out.extend(self._mask_names([entry]))
        return out

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        """The masked displays are read-only; the real fields stay listed too, so the form never
        turns them into inputs."""
        names = list(super().get_readonly_fields(request, obj))
        if self._reveal(request):
            return names
        return [*names, *(MASKED_PREFIX + name for name in RECEIVER_FIELDS)]


for _name in RECEIVER_FIELDS:
    setattr(ReceiverMaskingAdmin, MASKED_PREFIX + _name, _masked_display(_name))


def _secret_display(name: str, label: Any) -> Callable[[Any, Any], str]:
    def show(self: Any, obj: Any) -> str:
        return mask_secret(getattr(obj, name, ""))

    return admin.display(description=label)(show)


class SecretFieldsAdmin(admin.ModelAdmin):
    """Write-only credentials on a model's admin: a user who may change the row gets the form's
    empty inputs (the form shows `••••1234`); a user who may only view it gets `••••1234` where
    Django would print the stored value of a read-only field."""

    secret_fields: Sequence[str] = SECRET_FIELDS

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> list[tuple[Any, dict[str, Any]]]:
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets
        return [
            (title, {**options, "fields": [self._secret_name(f) for f in options["fields"]]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Sequence[str]:
        names = list(super().get_readonly_fields(request, obj))
        return [*names, *(MASKED_PREFIX + name for name in self.secret_fields)]

    def _secret_name(self, name: Any) -> Any:
        return MASKED_PREFIX + name if isinstance(name, str) and name in self.secret_fields else name


for _name in SECRET_FIELDS:
    setattr(SecretFieldsAdmin, MASKED_PREFIX + _name, _secret_display(_name, SECRET_LABELS[_name]))


class MaskingHistoryHelper(HistoricalRecordContextHelper):
    """History diffs: secrets never, receiver details only with the permission."""

    def __init__(self, model: Any, historical_record: Any, *, reveal_receiver: bool, **kwargs: Any) -> None:
        super().__init__(model, historical_record, **kwargs)
        self.reveal_receiver = reveal_receiver

    def format_delta_change(self, change: Any) -> Any:
        if change.field in SECRET_FIELDS:
            change = dataclasses.replace(change, old=mask_secret(change.old), new=mask_secret(change.new))
        elif change.field in RECEIVER_FIELDS and not self.reveal_receiver:
            change = dataclasses.replace(
                change,
                old=mask_receiver_field(change.field, change.old),
                new=mask_receiver_field(change.field, change.new),
            )
        return super().format_delta_change(change)
