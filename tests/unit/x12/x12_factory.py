"""Small synthetic interchanges for the X12 core tests (no patient data)."""

from __future__ import annotations


def isa(
    control: str = "000000123",
    *,
    sep: str = "*",
    rep: str = "^",
    comp: str = ":",
    term: str = "~",
    sender: str = "SENDER",
    receiver: str = "RECEIVER",
) -> str:
    fields = [
        "ISA", "00", " " * 10, "00", " " * 10, "ZZ", sender.ljust(15), "ZZ", receiver.ljust(15),
        "260101", "1200", rep, "00501", control, "0", "P", comp,
    ]  # fmt: skip
    return sep.join(fields) + term


def interchange(
    *bodies: list[str],
    control: str = "000000123",
    set_id: str = "835",
    version: str = "005010X221A1",
    se_count: int | None = None,
    ge_count: int | None = None,
    iea_control: str | None = None,
    term: str = "~",
    sep: str = "*",
    line_break: str = "",
) -> str:
    """One interchange, one group, one ST per body (lists of segment texts using ``*``)."""
    end = term + line_break
    out = [isa(control, sep=sep, term=term) + line_break]
    out.append(sep.join(["GS", "HP", "SENDER", "RECEIVER", "20260101", "1200", "7", "X", version]))
    for n, body in enumerate(bodies, start=1):
        number = f"{n:04d}"
        out.append(sep.join(["ST", set_id, number]))
        out.extend(s.replace("*", sep) for s in body)
        count = se_count if se_count is not None else len(body) + 2
        out.append(sep.join(["SE", str(count), number]))
    out.append(sep.join(["GE", str(ge_count if ge_count is not None else len(bodies)), "7"]))
    out.append(sep.join(["IEA", "1", iea_control or control]))
    return out[0] + end.join(out[1:]) + end


BODY_835 = ["BPR*I*100*C*CHK", "TRN*1*12345*1512345678", "LX*1", "CLP*PCN1*1*100*100**12"]
