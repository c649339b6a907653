"""Domain errors of the rules app; the admin turns them into messages."""

from __future__ import annotations


class RulesError(Exception):
    """Base for rule and exception-workflow errors."""


class UnknownExceptionType(RulesError):
    def __init__(self, code: str):
        self.code = code
        super().__init__(f"Unknown exception type '{code}'.")


class TaskNotOpen(RulesError):
    def __init__(self, *, task_id: int, state: str):
        self.task_id = task_id
        self.state = state
        super().__init__(f"Exception task {task_id} is already {state}.")


class ResolvePermissionDenied(RulesError):
    def __init__(self, *, task_id: int):
        self.task_id = task_id
        super().__init__(f"You may not resolve exception task {task_id}: it is not assigned to you or your groups.")


class ResolveActionInvalid(RulesError):
    def __init__(self, message: str):
        super().__init__(message)


class BlacklistValueInvalid(RulesError):
    def __init__(self, message: str):
        super().__init__(message)


class TaskAlreadyClaimed(RulesError):
    """Someone else holds the to-do: a second claim loses instead of taking it over."""

    def __init__(self, *, task_id: int, holder: str):
        from django.utils.translation import gettext as _

        self.task_id = task_id
        self.holder = holder
        super().__init__(
            _("Exception task %(id)s is already claimed by %(holder)s.") % {"id": task_id, "holder": holder}
        )


class WorkbenchPermissionDenied(RulesError):
    def __init__(self, *, permission: str):
        from django.utils.translation import gettext as _

        self.permission = permission
        super().__init__(_("You lack the permission %(permission)s.") % {"permission": permission})


class AssigneeInvalid(RulesError):
    def __init__(self, message: str):
        super().__init__(message)


class BacktestPeriodInvalid(RulesError):
    """A backtest period the form must refuse; `errors` maps form fields to messages."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(str(message) for message in errors.values()))


class BacktestRuleMissing(RulesError):
    def __init__(self, *, rule_id: int):
        self.rule_id = rule_id
        super().__init__(f"No intercept rule {rule_id}.")
