"""Admin registrations: print batches (the print page) live in print_admin."""

from shipping import print_admin  # noqa: F401
