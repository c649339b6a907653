"""Scanner authentication: `Authorization: Bearer <device token>`, one token per PDA, stored hashed.

Missing token: 401 with WWW-Authenticate. Unknown token: 401. Revoked device: 403 (the token is
genuine but no longer allowed). Used only by the scan endpoints, so a token can do nothing else."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from shipping.models import ScannerDevice

KEYWORD = "Bearer"


class ScannerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        from shipping.services import scanner_device_for_token

        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode(errors="replace").lower() != KEYWORD.lower():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("Give the scanner token after 'Bearer', without spaces."))
        device = scanner_device_for_token(parts[1].decode(errors="replace"))
        if device is None:
            raise exceptions.AuthenticationFailed(_("Unknown scanner token."))
        if device.revoked_at is not None:
            raise exceptions.PermissionDenied(_("This scanner was revoked; ask for a new token."))
        # A scanner is no person: request.user stays anonymous (no admin rights, no history user),
        # request.auth is the device.
        return AnonymousUser(), device

    def authenticate_header(self, request) -> str:
        return f'{KEYWORD} realm="scanner"'


class IsScanner(BasePermission):
    """Only an active scanner device (no session, no user token) may scan."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ScannerDevice) and request.auth.revoked_at is None


class ScannerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "shipping.api.authentication.ScannerTokenAuthentication"
    name = "scannerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A scanner device's token (shown once when the device is created in the admin).",
        }
