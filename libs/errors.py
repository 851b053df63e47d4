"""Errors a user can fix; the CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input, configuration or environment, as opposed to a bug."""


class ConfigError(UserError):
    """A configuration key, value or file is wrong."""


class MissingInput(UserError):
    """The data lacks what a step reads: a source it was not given, a table no earlier step wrote, or too little to
    fit on. `pmkt pipeline` with its default steps skips such a step and says why; a step it is asked for fails."""


class ReconciliationError(Exception):
    """Ingest counts don't add up: a bug or a data loss, never a user error to shrug off."""


class ContractError(Exception):
    """A job was about to write columns its table's contract (`libs.contracts`) does not declare: a bug."""
