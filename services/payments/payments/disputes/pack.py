"""The LMC escalation pack as a printable PDF (A4), from the same data as its JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

# The core fonts are Latin-1: text a practice typed may hold anything, so characters outside
# it are replaced rather than refused (the JSON pack keeps them exactly).
_REPLACEMENTS = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                               "\u2013": "-", "\u2014": "-", "\u2026": "..."})  # fmt: skip


def _latin1(text: object) -> str:
    value = "" if text is None else str(text)
    return value.translate(_REPLACEMENTS).encode("latin-1", "replace").decode("latin-1")


class _Pack(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.cell(0, 8, f"Page {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", style="B", size=11)
        self.multi_cell(self.epw, 6, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("Helvetica", size=10)

    def row(self, label: str, value: object) -> None:
        self.set_font("Helvetica", style="B", size=10)
        self.cell(45, 5, _latin1(label))
        self.set_font("Helvetica", size=10)
        self.multi_cell(self.epw - 45, 5, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def para(self, value: object) -> None:
        self.multi_cell(self.epw, 5, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _who_and_what(pdf: _Pack, pack: dict[str, Any]) -> None:
    practice = pack["practice"]
    dates = pack["dates"]
    pdf.heading("The practice")
    pdf.row("Practice", f"{practice['name'] or ''} ({practice['odsCode']})")
    pdf.row("Contract", practice["contractType"] or "not recorded")
    pdf.row("ICB", practice["icbCode"] or "not recorded")
    pdf.row("LMC", practice["lmcCode"] or "not recorded")
    pdf.heading("The query")
    pdf.row("PCSE case (CAS)", pack["casReference"] or "none recorded")
    pdf.row("Subject", pack["query"]["subject"])
    pdf.row("About", pack["query"]["about"])
    pdf.row("Amount", pack["amount"]["pounds"] or "not stated")
    pdf.row("Direction", str(pack["amount"]["direction"]).replace("_", " ").lower())
    for fact in pack["query"]["facts"]:
        pdf.row(fact["label"], fact["value"])
    pdf.heading("Dates")
    pdf.row("First raised", dates["raisedOn"])
    pdf.row("Days unresolved", dates["ageDays"])
    pdf.row("Escalatable from", dates["escalatableOn"])
    pdf.row("Escalated", dates["escalatedOn"] or "not yet")


def _where_and_evidence(pdf: _Pack, pack: dict[str, Any]) -> None:
    pdf.heading("Addressed to")
    pdf.para(pack["addressee"]["to"])
    pdf.para(pack["addressee"]["why"])
    pdf.heading("Contractual basis")
    pdf.para(pack["contractualBasis"])
    pdf.heading("Routes to a remedy")
    for remedy in pack["remedies"]:
        pdf.para(f"- {remedy['route']} ({remedy['basis']}; {remedy['source']})")
    pdf.heading("Timeline")
    for step in pack["timeline"]:
        pdf.row(step["occurredOn"], f"{step['kind'].lower()}: {step['note']}")
        for fact in step["evidence"]:
            pdf.row("", f"{fact['label']}: {fact['value']}")
        for attached in step["attachments"]:
            pdf.row("", f"attached {attached['fileName']} (SHA-256 {attached['sha256']})")
    if pack["attachments"]:
        pdf.heading("Attachments (kept by the practice's payments service)")
        for attached in pack["attachments"]:
            pdf.para(
                f"{attached['fileName']}, {attached['mediaType']}, {attached['sizeBytes']} "
                f"bytes, SHA-256 {attached['sha256']}"
            )


def pack_pdf(pack: dict[str, Any]) -> bytes:
    """The pack, laid out for printing: who, what, how much, when, the evidence."""
    pdf = _Pack(format="A4")
    pdf.set_title(_latin1(f"LMC escalation {pack['reference']}"))
    # Dated the day the pack was made, not the second: the same pack prints the same bytes.
    pdf.set_creation_date(datetime.combine(date.fromisoformat(pack["generatedOn"]), time(), UTC))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=14)
    pdf.para(f"Escalation to the LMC: {pack['reference']}")
    pdf.set_font("Helvetica", size=10)
    _who_and_what(pdf, pack)
    _where_and_evidence(pdf, pack)
    pdf.ln(2)
    pdf.set_font("Helvetica", size=8)
    pdf.para(f"Generated on {pack['generatedOn']}.")
    return bytes(pdf.output())
