"""Authentication backends: django-axes' lockout check in front of Django's password check."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out account or client before the password is checked.

    Logins over HTTP always carry the request; a call without one (a management command, the test
    client's `login()`) has no client to lock out, so it is left to the next backend instead of
    raising, as django-axes would."""

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
