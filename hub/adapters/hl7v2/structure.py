"""Message structure look-up (HL7 table 0354) from MSH-9.1 message code and MSH-9.2 trigger.

Senders often put a wrong MSH-9.3 (``ADT^A04^ADT_A04`` where table 0354 says ``ADT_A01``), so the
hub trusts the table for every pair it knows and MSH-9.3 only for pairs it does not.
"""

from __future__ import annotations

# Table 0354 (v2.5.1 to v2.8.2), structure -> the events that share it.
_TABLE_0354: dict[str, tuple[str, ...]] = {
    "ADT_A01": ("A01", "A04", "A08", "A13"),
    "ADT_A02": ("A02",),
    "ADT_A03": ("A03",),
    "ADT_A05": ("A05", "A14", "A28", "A31"),
    "ADT_A06": ("A06", "A07"),
    "ADT_A09": ("A09", "A10", "A11"),
    "ADT_A12": ("A12",),
    "ADT_A15": ("A15",),
    "ADT_A16": ("A16",),
    "ADT_A17": ("A17",),
    "ADT_A18": ("A18",),
    "ADT_A20": ("A20",),
    "ADT_A21": ("A21", "A22", "A23", "A25", "A26", "A27", "A29", "A32", "A33"),
    "ADT_A24": ("A24",),
    "ADT_A30": ("A30", "A34", "A35", "A36", "A46", "A47", "A48", "A49"),
    "ADT_A37": ("A37",),
    "ADT_A38": ("A38",),
    "ADT_A39": ("A39", "A40", "A41", "A42"),
    "ADT_A43": ("A43", "A44"),
    "ADT_A45": ("A45",),
    "ADT_A50": ("A50", "A51"),
    "ADT_A52": ("A52", "A53"),
    "ADT_A54": ("A54", "A55"),
    "ADT_A60": ("A60",),
    "ADT_A61": ("A61", "A62"),
    "SIU_S12": (
        "S12",
        "S13",
        "S14",
        "S15",
        "S16",
        "S17",
        "S18",
        "S19",
        "S20",
        "S21",
        "S22",
        "S23",
        "S24",
        "S26",
    ),
    "DFT_P03": ("P03",),
    "DFT_P11": ("P11",),
    "BAR_P01": ("P01", "P05"),
    "BAR_P02": ("P02",),
    "BAR_P06": ("P06",),
    "BAR_P10": ("P10",),
    "BAR_P12": ("P12",),
    "ORU_R01": ("R01",),
    "ORM_O01": ("O01",),
    "MDM_T01": ("T01", "T03", "T05", "T07", "T09", "T11"),
    "MDM_T02": ("T02", "T04", "T06", "T08", "T10"),
    "MFN_M02": ("M02",),
    "QRY_A19": ("A19",),
}

STRUCTURES: dict[tuple[str, str], str] = {
    (name.split("_", 1)[0], event): name for name, events in _TABLE_0354.items() for event in events
}


def structure_for(code: str, trigger: str, declared: str = "") -> str:
    """Table 0354's structure for ``code^trigger``; else MSH-9.3 as sent; else ``CODE_TRIGGER``."""
    if code == "ACK":
        return "ACK"
    known = STRUCTURES.get((code, trigger))
    if known is not None:
        return known
    if declared:
        return declared
    return f"{code}_{trigger}" if trigger else code
