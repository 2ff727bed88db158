"""What an LMC may be shown of its area's payment figures: small numbers suppressed, so that no
figure is one practice's money.

An LMC sees aggregates over its practices, and which practices are affected, never how much
any one of them is owed (README, "Who may see what"). A figure made up from few practices
would be those practices' money, the more so as the LMC also sees which practices they are. So
every figure shown to an LMC counts the practices behind it and follows the rule the records
service applies to its LMC trends, NHS Digital's disclosure control for figures below national
level (Hospital Episode Statistics and Emergency Care Data Set, from September 2018): 0 is
shown; 1 to 7 is suppressed; 8 or more is shown, a count rounded to the nearest 5.

Here the number that decides is the number of **practices** a figure is made from: a kind of
anomaly at 1 to 7 of the area's practices shows neither how many nor how much. A sum of money
from 8 or more practices is shown to the penny (the rule says nothing of money; rounding a sum
hides no practice's part of it). Payments operators and admins, who may see every practice's
payments, see the exact figures.
"""

from __future__ import annotations

from typing import Final

SUPPRESSED_UP_TO: Final = 7
"""Figures from 1 to this many practices are not shown."""
ROUND_TO: Final = 5
"""Counts shown are rounded to the nearest multiple of this."""


def rounded(count: int) -> int:
    """A count as an LMC is shown it once enough practices make it up: to the nearest 5, halves
    up (12 is 10, 13 is 15)."""
    return ROUND_TO * ((count + ROUND_TO // 2) // ROUND_TO)


def withheld(practices: int) -> bool:
    """Whether a figure made up from this many practices is too small to show."""
    return 1 <= practices <= SUPPRESSED_UP_TO


def count_shown(count: int, *, practices: int) -> int | None:
    """A count of things at ``practices`` practices: None when withheld, else rounded."""
    if withheld(practices):
        return None
    return rounded(count)


def amount_shown(pence: int, *, practices: int) -> int | None:
    """A sum of money from ``practices`` practices: None when withheld, else as it is."""
    return None if withheld(practices) else pence
