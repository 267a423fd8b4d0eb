"""An 835 or 277 cut into one self-contained interchange per claim: each piece is read by the
same walker and reader as its document, with exact trailers; the PLBs travel once; an edited
item is re-read alone. Unknown CARC and RARC codes warn without stopping the mapping."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from support.x12_remit import Clp, Svc, remit_835

from hub.adapters.x12.readers.items import pieces
from hub.adapters.x12.readers.remittance import ClaimRemit, ProviderAdjustmentRemit, RemitHeader
from hub.adapters.x12.readers.summary import summarise
from hub.adapters.x12.readers.walk import SetResults, read_all
from hub.errors import InputError, MappingError, ValidationError
from hub.mappings import x12_remittance
from hub.pm.enums import ClaimPaymentStatus
from hub.services.x12_split import peek_item, work_item

SAMPLES = Path(__file__).resolve().parents[3] / "conformance" / "x12" / "samples"


def results(raw: bytes) -> list[object]:
    out: list[object] = []
    for found in read_all(raw):
        if isinstance(found, SetResults):
            out.extend(found.results)
    return out


def test_each_claim_piece_is_a_valid_interchange_of_its_own() -> None:
    raw = remit_835(
        [Clp("P1", "1", "10", "10"), Clp("P2", "4", "5", "0", cas=(("CO", "50", "5"),))],
        plb=(("WO", "1.00"),),
    )
    found = list(pieces(raw))
    assert [(p.kind, p.key) for p in found] == [
        ("claim", "P1"),
        ("claim", "P2"),
        ("plb", "EFT0001"),
    ]
    for piece in found:
        assert summarise(piece.raw)["errors"] == []  # SE, GE, IEA counts and numbers agree
    header, claim = results(found[1].raw)
    assert isinstance(header, RemitHeader) and header.trace_number == "EFT0001"
    assert isinstance(claim, ClaimRemit) and claim.patient_control_number == "P2"
    _, plb = results(found[2].raw)
    assert isinstance(plb, ProviderAdjustmentRemit) and plb.amounts[0].amount == Decimal("1.00")


def test_277_pieces_keep_only_claim_levels() -> None:
    raw = (SAMPLES / "ims_277_x212.x12").read_bytes()
    # the sample's IEA02 is wrong: the walker refuses it after the sets (its golden says so)
    with pytest.raises(InputError, match="IEA02"):
        list(pieces(raw))
    good = (SAMPLES / "lfh_277_claim_level.x12").read_bytes()
    assert [p.key for p in pieces(good)] == ["SM123456", "J0234567", "MA345678"]  # REF*EJ


def test_work_items_and_edited_items() -> None:
    (piece,) = list(pieces(remit_835([Clp("P1", "1", "10", "10")])))
    item = work_item(piece, "NORTH/MRN1")
    assert (item.type, item.lane_keys, item.control_id) == (
        "835^CLAIM",
        ("claim:P1", "NORTH/MRN1"),
        "P1",
    )
    assert peek_item(piece.raw, "835^CLAIM").lane_keys == ("claim:P1",)
    two = remit_835([Clp("P1", "1", "10", "10"), Clp("P2", "1", "10", "10")])
    with pytest.raises(ValidationError, match="exactly one claim"):
        peek_item(two, "835^CLAIM")


def test_unknown_carc_and_rarc_warn_and_an_unknown_clp02_is_located() -> None:
    svc = Svc("99213", "10", "5", (("CO", "ZZ1", "5"),), remarks=("N130", "XX9"))
    (_, claim) = results(remit_835([Clp("P1", "19", "10", "5", services=(svc,))]))
    assert isinstance(claim, ClaimRemit)
    assert x12_remittance.code_warnings(claim) == [
        "unknown CARC ZZ1 (posted as sent)",
        "unknown RARC XX9 (posted as sent)",
    ]
    assert x12_remittance.claim_payment(claim).status is ClaimPaymentStatus.PRIMARY
    (_, bad) = results(remit_835([Clp("P1", "7", "10", "10")]))
    assert isinstance(bad, ClaimRemit)
    with pytest.raises(MappingError) as caught:
        x12_remittance.claim_payment(bad)
    assert str(caught.value.location) == "CLP02 (loop 2100, segment 9)"


def test_hostile_amounts_are_refused_in_constant_work() -> None:
    long_amount = summarise(remit_835([Clp("P1", "1", "1" * 60_000, "10")]))["errors"]
    assert [(e["code"], e["location"]) for e in long_amount] == [
        ("x12_number", "CLP03 (segment 9)")
    ]
    # past the tokenizer's segment limit the core refuses the segment before any reader
    huge = summarise(remit_835([Clp("P1", "1", "1" * 100_000, "10")]))["errors"]
    assert huge[0]["code"] == "x12_segment_too_long"
