"""GraphQL pieces every capability of the payments subgraph shares: the enums of the tables,
exact money, and facts a person can read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.federation.schema_directives import Cost
from strawberry.federation.schema_directives import ListSize as ListSizeDirective

from payments import models
from payments.pensions.rules import CertificateStatus
from payments.schedule.rules import Basis, NoteKind

if TYPE_CHECKING:
    from payments.schema import Performer, PracticePayments

strawberry.enum(
    models.Component,
    description="What a line pays (global sum, QOF, ...) or deducts (superannuation, levies).",
)
strawberry.enum(models.Paymaster, description="Whose money a line is: NHS England, an ICB...")
strawberry.enum(
    models.ChainStatus,
    description="Where a line is in the payment chain: authorised, entered, paid, failed, "
    "reversed.",
)
strawberry.enum(
    models.ConsentScope,
    description="What a practice's consent lets an accountant see: payments, or payments and "
    "pensions.",
)
strawberry.enum(models.AnomalyKind, description="A kind of problem with a practice's payments.")
strawberry.enum(models.Severity, description="How much an anomaly matters.")
strawberry.enum(
    models.DeclarationState, description="A CQRS declaration's state, in the order it moves."
)
strawberry.enum(models.DisputeEventKind, description="A step in a dispute's timeline.")
strawberry.enum(models.CertificateType, description="Type 1 (partners) or Type 2 (salaried...).")
strawberry.enum(models.LocumForm, description="Locum Form A (per practice) or B (per month).")
strawberry.enum(models.RateKind, description="What a rate is: a contribution tier, a levy...")
strawberry.enum(CertificateStatus, description="Where a year's Type 1 / Type 2 certificate is.")
strawberry.enum(
    models.Measure,
    description="A measure of the published NHS Payments to General Practice data set.",
)
strawberry.enum(
    models.Direction,
    name="MoneyDirection",
    description="Which way money at stake goes: owed to the practice, or repayable by it.",
)
strawberry.enum(models.PaycodeSign, description="The signs a paycode's lines can carry.")
strawberry.enum(
    models.LineTreatment,
    description="How a paycode's lines are read: regular, arrears of a backdated rate, or "
    "pension year-end balancing.",
)
strawberry.enum(models.ClaimState, description="Where a practice's claim is.")
strawberry.enum(NoteKind, description="What a note about the schedule is.")
strawberry.enum(Basis, description="What an expectation is: a month's, a balance, a claim.")


PENCE = Decimal("0.01")


def pounds(pence: int) -> Decimal:
    """Exact pounds from integer pence: money never passes through a float."""
    return (Decimal(pence) * PENCE).quantize(PENCE)


@strawberry.type(description="One fact, as a label and a value a person can read.")
class Fact:
    label: str = strawberry.field(description="What the fact is.")
    value: str = strawberry.field(description="Its value.")

    @classmethod
    def many(cls, pairs: Iterable[Sequence[object]]) -> list[Fact]:
        return [Fact(label=str(label), value=str(value)) for label, value in pairs]


# What the gateway's cost estimate charges (a keyed field costs 1; see gateway/README.md).
# A field worked out over a whole LMC area (about 65 practices on average), as the other
# services' area aggregates are priced.
AREA_COST = 20
# A practice's expected schedule is worked out month by month from its first statement (years
# of months, each with its components and a line or two per GP) up to `to`, in Python: priced
# as the searches that scan a whole table are. It lists tens of expectations, not ten (an
# expectation per component a month, and one or two per GP). Fifty is a judgement, not a
# measurement: one call with its derivations costs about 1,250, and five aliases of it are over
# the limit.
SCHEDULE_COST = [
    Cost(weight=100),
    # Strawberry types the other arguments as required, yet leaves them out of the SDL unset,
    # which is what composition wants here (None would print null, which it refuses).
    ListSizeDirective(assumed_size=50),  # type: ignore[call-arg]
]


# The entities are assembled in payments.schema from every capability; a capability's mutation
# returns one through these lazy references, so no capability imports the schema at load time.
PracticePaymentsRef = Annotated["PracticePayments", strawberry.lazy("payments.schema")]
PerformerRef = Annotated["Performer", strawberry.lazy("payments.schema")]


def practice_payments(ods_code: str) -> PracticePayments:
    """A practice's payments, as a mutation returns them."""
    from payments.schema import PracticePayments  # noqa: PLC0415 - see PracticePaymentsRef

    return PracticePayments(ods_code=ods_code)


def performer(gmc: str) -> Performer:
    """A performer, as a mutation returns them."""
    from payments.schema import Performer  # noqa: PLC0415 - see PracticePaymentsRef

    return Performer(gmc_number=gmc)
