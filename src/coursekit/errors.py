"""The one error type a user sees: :class:`CoursekitError` — bad input, said in one line.

Every command of ``coursekit`` turns it into that line on stderr and exit code 2 (``cli.main``).
The modules raise their own subclasses (``GradingError``, ``ReleaseError``, ``SettingsError``,
``CollectError``, ``CheckError``) so that callers can catch one stage's problems.
"""

from __future__ import annotations

__all__ = ["CoursekitError"]


class CoursekitError(Exception):
    """A problem with what the user gave (a file, a setting, a folder): one readable line."""
