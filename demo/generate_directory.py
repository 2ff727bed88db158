"""Writes demo/directory.json: the LMCs, practices and performers every service's demo data uses.

Deterministic: the same seed gives byte-identical output. Run it only to change the demo
directory; the JSON is checked in so that the three services agree on who exists.
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

SEED = 20261122

LMCS = [
    {"code": "kernow", "name": "Kernow LMC", "icbs": ["QT6"]},
    {"code": "essex", "name": "Essex LMCs", "icbs": ["QH8", "QM7", "QJG"]},
    {"code": "humberside", "name": "Humberside Group of LMCs", "icbs": ["QOQ"]},
    {"code": "llr", "name": "Leicester, Leicestershire and Rutland LMC", "icbs": ["QK1"]},
]
SUB_ICBS = {"QT6": "11N", "QH8": "06Q", "QM7": "07H", "QJG": "99E", "QOQ": "03F", "QK1": "04C"}
PLACES = [
    "Riverside",
    "Market Street",
    "Church Lane",
    "Harbour View",
    "Station Road",
    "Oakwood",
    "The Willows",
    "Castle Mead",
    "Northgate",
    "Abbey Fields",
    "Meadowbank",
    "Hillside",
]
SUFFIXES = ["Surgery", "Medical Centre", "Health Centre", "Medical Practice"]
GIVEN = [
    "Amelia",
    "Oliver",
    "Priya",
    "James",
    "Sofia",
    "Mohammed",
    "Grace",
    "Thomas",
    "Aisha",
    "William",
    "Chloe",
    "Daniel",
    "Hannah",
    "Samuel",
    "Fatima",
    "George",
    "Emily",
    "Arjun",
]
FAMILY = [
    "Smith",
    "Patel",
    "Jones",
    "Khan",
    "Williams",
    "Brown",
    "Taylor",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Roberts",
    "Ahmed",
    "Walker",
    "Wright",
    "Hughes",
    "Green",
    "Hall",
]
STATUSES = ["included"] * 14 + [
    "included_with_conditions",
    "pending",
    "deferred",
    "refused",
    "contingent_removal",
    "suspended",
    "removed",
    "withdrawn",
]
ROLES = ["partner", "partner", "salaried", "salaried", "locum", "registrar", "retainer"]
PRACTICES_PER_LMC = 9
POSTCODE_AREAS = {"kernow": "TR", "essex": "CM", "humberside": "HU", "llr": "LE"}


def generate(seed: int = SEED) -> dict[str, object]:
    rng = random.Random(seed)
    practices: list[dict[str, object]] = []
    used_codes = {"A81001"}
    for lmc in LMCS:
        for index in range(PRACTICES_PER_LMC):
            if not practices:
                code = "A81001"
            else:
                while True:
                    code = f"{rng.choice('ABCDFGHJKLMNPY')}{rng.randint(80000, 89999)}"
                    if code not in used_codes:
                        used_codes.add(code)
                        break
            icb = lmc["icbs"][index % len(lmc["icbs"])]
            area = POSTCODE_AREAS[str(lmc["code"])]
            practices.append(
                {
                    "odsCode": code,
                    "name": f"{rng.choice(PLACES)} {rng.choice(SUFFIXES)}",
                    "postcode": f"{area}{rng.randint(1, 20)} {rng.randint(1, 9)}"
                    f"{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTUWXYZ')}",
                    "icbCode": icb,
                    "subIcbCode": SUB_ICBS[str(icb)],
                    "lmcCode": lmc["code"],
                    "contractType": rng.choice(["GMS", "GMS", "PMS", "APMS"]),
                    "listSize": rng.randint(2500, 18000),
                }
            )
    performers: list[dict[str, object]] = []
    memberships: list[dict[str, object]] = []
    used_gmc: set[str] = set()
    for number, practice in enumerate(practices):
        for slot in range(rng.randint(2, 4)):
            while True:
                gmc = f"{rng.randint(0, 9_999_999):07d}"
                if gmc not in used_gmc:
                    used_gmc.add(gmc)
                    break
            status = STATUSES[(number * 4 + slot) % len(STATUSES)]
            performers.append(
                {
                    "gmcNumber": gmc,
                    "givenName": rng.choice(GIVEN),
                    "familyName": rng.choice(FAMILY),
                    "status": status,
                }
            )
            start = date(2010, 1, 1) + timedelta(days=rng.randint(0, 5000))
            ended = status in {"removed", "withdrawn"}
            memberships.append(
                {
                    "gmcNumber": gmc,
                    "odsCode": practice["odsCode"],
                    "role": ROLES[slot % len(ROLES)] if slot else "partner",
                    "startDate": start.isoformat(),
                    "endDate": (start + timedelta(days=rng.randint(200, 2000))).isoformat()
                    if ended
                    else None,
                }
            )
    enrich(practices, performers, memberships, random.Random(seed + 1))
    applicants = registers(practices, performers, memberships, random.Random(seed + 2))
    return {
        "seed": seed,
        "lmcs": LMCS,
        "practices": practices,
        "performers": performers,
        "memberships": memberships,
        "applicants": applicants,
    }


OTHER_ROLES = {(9, 4): "registrar", (9, 7): "locum", (13, 6): "retainer"}
STREETS = ["High Street", "Church Road", "Mill Lane", "Station Road", "Victoria Road", "The Green"]


def enrich(
    practices: list[dict[str, object]],
    performers: list[dict[str, object]],
    memberships: list[dict[str, object]],
    rng: random.Random,
) -> None:
    """Details added after the first release, from their own random stream so that the codes,
    names and statuses above stay as they were."""
    for index, practice in enumerate(practices):
        practice["address"] = f"{rng.randint(1, 120)} {rng.choice(STREETS)}"
        practice["openedOn"] = (
            date(1975, 1, 1) + timedelta(days=rng.randint(0, 15000))
        ).isoformat()
        practice["status"] = "active"
        practice["closedOn"] = None
        practice["branchSites"] = [
            {
                "siteCode": f"{practice['odsCode']}{n:03d}",
                "name": f"{practice['name']} (branch {n})",
                "postcode": practice["postcode"],
            }
            for n in range(1, 1 + (index % 3 == 0) + (index % 6 == 0))
        ]
    # A practice that closed last year, and one whose code is dormant.
    practices[-1].update(status="closed", closedOn="2025-09-30")
    practices[-2].update(status="dormant")
    # Every role appears somewhere: (every nth membership, from the kth) takes the role.
    for (step, first), role in OTHER_ROLES.items():
        for membership in memberships[first::step]:
            membership["role"] = role
    roles = {m["gmcNumber"]: m["role"] for m in memberships}
    for performer in performers:
        performer["dateOfBirth"] = (
            date(1955, 1, 1) + timedelta(days=rng.randint(0, 15000))
        ).isoformat()
        registrar = roles[performer["gmcNumber"]] == "registrar"
        born = date.fromisoformat(str(performer["dateOfBirth"]))
        # A CCT comes at about thirty, after medical school, foundation and GP training.
        cct = date(born.year + 30, born.month, min(born.day, 28)) + timedelta(
            days=rng.randint(0, 900)
        )
        performer["cctDate"] = None if registrar else cct.isoformat()
        performer["underTrainingSupervision"] = registrar
    # One registrar wrongly shown as fully qualified: on the list, no CCT, no supervision.
    unsupervised = next(
        p for p in performers if roles[p["gmcNumber"]] == "registrar" and p["status"] == "included"
    )
    unsupervised["underTrainingSupervision"] = False
    # The same person entered twice under different GMC numbers.
    original, twin = performers[5], performers[40]
    twin.update(
        givenName=original["givenName"],
        familyName=original["familyName"],
        dateOfBirth=original["dateOfBirth"],
    )


DESIGNATED_BODY = "Royal Cornwall Hospitals NHS Trust"
# Shares of practices that dispense, train registrars, and opted out of out-of-hours care.
DISPENSING, TRAINING, OOH_OPT_OUT = 0.15, 0.3, 0.1
# Born before this year: qualified before CCTs (2005), on the GP Register without one.
BEFORE_CCTS = 1967
GP_REGISTER_OPENED = date(2006, 3, 31)


def registers(
    practices: list[dict[str, object]],
    performers: list[dict[str, object]],
    memberships: list[dict[str, object]],
    rng: random.Random,
) -> list[dict[str, object]]:
    """The GMC registers, the practice facts payments reads, the published list, and new
    entrants' applications: from a third random stream, so that everything above stays."""
    for practice in practices:
        practice["dispensing"] = rng.random() < DISPENSING
        practice["trainingPractice"] = rng.random() < TRAINING
        practice["outOfHoursOptOut"] = rng.random() < OOH_OPT_OUT
    roles = {m["gmcNumber"]: m["role"] for m in memberships}
    for performer in performers:
        born = date.fromisoformat(str(performer["dateOfBirth"]))
        performer["gmcRegisteredOn"] = date(born.year + 24, 8, 1).isoformat()
        registrar = roles[performer["gmcNumber"]] == "registrar"
        if registrar:
            # On the GP programme for more than three months: inclusion was needed by now.
            start = date(2025, 8, 6) - timedelta(days=365 * rng.randint(0, 1))
            performer["trainingProgrammeStart"] = start.isoformat()
            performer["gpRegisterOn"] = None
        elif born.year < BEFORE_CCTS:
            # Qualified before 2005 (JCPTGP): on the GP Register since it opened, no CCT.
            performer["cctDate"] = None
            performer["gpRegisterOn"] = GP_REGISTER_OPENED.isoformat()
        else:
            performer["gpRegisterOn"] = performer["cctDate"]
        if not registrar:
            performer["trainingProgrammeStart"] = None
        performer["designatedBody"] = None
        performer["publicListEntries"] = None
    working = {m["gmcNumber"] for m in memberships if m["endDate"] is None}
    listed = [p for p in performers if p["status"] == "included" and p["gmcNumber"] in working]
    # Included but not shown by the published list; and one number listed twice.
    listed[3]["publicListEntries"] = 0
    listed[20]["publicListEntries"] = 2
    # A trust-employed doctor, exempt since 27 May 2024, working without inclusion.
    deferred = next(
        p for p in performers if p["status"] == "deferred" and p["gmcNumber"] in working
    )
    deferred["designatedBody"] = DESIGNATED_BODY
    applicants: list[dict[str, object]] = []
    used = {str(p["gmcNumber"]) for p in performers}
    for lmc in LMCS:
        area = [p for p in practices if p["lmcCode"] == lmc["code"] and p["status"] == "active"]
        for number, registrar in enumerate((False, True)):
            while (gmc := f"{rng.randint(0, 9_999_999):07d}") in used:
                pass
            used.add(gmc)
            born = date(1985, 1, 1) + timedelta(days=rng.randint(0, 4000))
            applicants.append(
                {
                    "gmcNumber": gmc,
                    "givenName": rng.choice(GIVEN),
                    "familyName": rng.choice(FAMILY),
                    "dateOfBirth": born.isoformat(),
                    "gmcRegisteredOn": date(born.year + 24, 8, 1).isoformat(),
                    "gpRegisterOn": None if registrar else date(born.year + 33, 8, 7).isoformat(),
                    "registrar": registrar,
                    "odsCode": area[number]["odsCode"],
                }
            )
    return applicants


if __name__ == "__main__":
    out = Path(__file__).with_name("directory.json")
    out.write_text(json.dumps(generate(), indent=1) + "\n")
