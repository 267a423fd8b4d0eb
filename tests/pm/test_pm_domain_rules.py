"""The PM domain's rules, on every repository implementation (``pms``: in memory, SQLite,
PostgreSQL): get-or-create of shared references, merge and undo, claim building, the claim
lifecycle, remittance posting, eligibility, control numbers, versions and history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from support.pm_repos import Pms

from hub.errors import Conflict, HubError, ValidationError
from hub.pm.billing import (
    Adjustment,
    Benefit,
    ClaimPayment,
    ClaimStatusEvent,
    EligibilityCheck,
    ProviderAdjustment,
    Remittance,
    ServicePayment,
)
from hub.pm.billing_changes import (
    BuildClaim,
    MarkClaimsSubmitted,
    PostRemittance,
    RecordAcknowledgment,
    RecordClaimStatus,
    RecordEligibility,
)
from hub.pm.changes import (
    AddCharge,
    ChangeIdentifier,
    MergePatients,
    UpsertAppointment,
    UpsertCoverage,
    UpsertEncounter,
    UpsertPatient,
)
from hub.pm.enums import (
    AckResult,
    AdjustmentGroup,
    AdministrativeGender,
    ChargeStatus,
    ClaimPaymentStatus,
    ClaimStatus,
    ControlNumberKind,
    EligibilityStatus,
)
from hub.pm.keys import Identifier, PatientKey, PayerRef, ProviderRef
from hub.pm.repositories import PmRepository

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ANNA = PatientKey("NORTH", "MRN1")
ANNA_TWIN = PatientKey("NORTH", "MRN2")
PAYER = PayerRef("P77", "Synthetic Mutual")


def register(pm: PmRepository, key: PatientKey, *, coverage: bool = True) -> None:
    pm.apply(UpsertPatient(key, (Identifier(key.mrn, "NORTH", "MR"),), {"family_name": "DOE"}))
    pm.apply(UpsertEncounter(key, f"V-{key.mrn}", {"status": "in-progress"}))
    if coverage:
        pm.apply(UpsertCoverage(key, 1, PAYER, {"member_id": f"M-{key.mrn}", "active": 1}))


def charge(key: PatientKey, tx: str, code: str, amount: str, dx: tuple[str, ...]) -> AddCharge:
    return AddCharge(
        patient=key,
        transaction_id=tx,
        set_id="1",
        service_date=date(2026, 11, 20),
        code=code,
        amount=Decimal(amount),
        units=Decimal(1),
        diagnosis_codes=dx,
        provider=ProviderRef(npi="1234567893", family_name="SMITH"),
        visit_number=f"V-{key.mrn}",
    )


def billed_claim(pm: PmRepository) -> str:
    register(pm, ANNA)
    pm.apply(charge(ANNA, "T1", "99213", "120.00", ("E11.9", "I10")))
    pm.apply(charge(ANNA, "T2", "93000", "45.50", ("I10", "R00.0")))
    claim_id = pm.apply(BuildClaim(ANNA))
    assert claim_id is not None
    patient = pm.patients.get(ANNA)
    assert patient is not None
    (claim,) = pm.billing.claims_of(patient.id)
    return claim.patient_control_number


def submit(pm: PmRepository, pcn: str, isa: str = "000000001") -> None:
    pm.apply(MarkClaimsSubmitted("CLEARCO", isa, "1", "0001", (pcn,)))


# --- shared references: get or create -----------------------------------------------------------


def test_providers_are_found_by_npi_else_local_id_and_names_only_fill(pms: Pms) -> None:
    pm = pms.at(T0)
    first = pm.references.resolve_provider(ProviderRef(npi="1234567893", family_name="SMITH"))
    again = pm.references.resolve_provider(ProviderRef(npi="1234567893", taxonomy="207Q00000X"))
    local = pm.references.resolve_provider(ProviderRef(local_id="1234567893"))
    assert first is not None and first == again and local != first
    provider = pm.references.provider(first)
    assert provider is not None
    assert (provider.family_name, provider.taxonomy) == ("SMITH", "207Q00000X")  # not erased
    assert pm.references.resolve_provider(ProviderRef()) is None


def test_payers_are_found_by_local_id_else_by_name(pms: Pms) -> None:
    pm = pms.at(T0)
    by_id = pm.references.resolve_payer(PayerRef("P77", "Synthetic Mutual"))
    renamed = pm.references.resolve_payer(PayerRef("P77", "Synthetic Mutual Inc"))
    by_name = pm.references.resolve_payer(PayerRef(None, "Synthetic Mutual"))
    assert by_id is not None and renamed == by_id and by_name not in (None, by_id)
    assert pm.references.resolve_payer(PayerRef(None, "Synthetic Mutual")) == by_name
    org = pm.references.organization(by_id)
    assert org is not None and org.name == "Synthetic Mutual Inc" and org.kind == "payer"


# --- merge and undo --------------------------------------------------------------------------


def test_merge_moves_the_rows_and_undo_puts_them_back(pms: Pms) -> None:
    pm = pms.at(T0)
    register(pm, ANNA)
    register(pm, ANNA_TWIN)
    pm.apply(UpsertAppointment("EHR", "A1", ANNA_TWIN, {"minutes": 15}))
    pm.apply(charge(ANNA_TWIN, "T9", "99213", "80.00", ()))
    survivor, twin = pm.patients.get(ANNA), pm.patients.get(ANNA_TWIN)
    assert survivor is not None and twin is not None

    merge_id = pms.at(T0 + timedelta(minutes=1)).apply(MergePatients(ANNA, ANNA_TWIN))
    assert merge_id is not None
    pm = pms.at(T0 + timedelta(minutes=1))
    assert [a.patient_id for a in pm.scheduling.find_appointments("A1")] == [survivor.id]
    assert {e.patient_id for e in pm.scheduling.encounters_of(survivor.id)} == {survivor.id}
    assert len(pm.scheduling.encounters_of(survivor.id)) == 2
    covs = pm.scheduling.coverages_of(survivor.id)
    assert [(c.priority, c.active) for c in covs] == [(1, True), (1, False)]  # survivor's wins
    merged = pm.patients.get(ANNA_TWIN)
    assert merged is not None and (merged.active, merged.merged_into_id) == (False, survivor.id)
    assert pm.apply(MergePatients(ANNA, ANNA_TWIN)) is None  # a replay does nothing

    pm = pms.at(T0 + timedelta(minutes=2), actor="admin:ann")
    assert pm.patients.undo_merge(merge_id) == (survivor.id, twin.id)
    assert [a.patient_id for a in pm.scheduling.find_appointments("A1")] == [twin.id]
    assert [c.active for c in pm.scheduling.coverages_of(twin.id)] == [True]
    assert [c.patient_id for c in pm.billing.charges_of(twin.id)] == [twin.id]
    back = pm.patients.get(ANNA_TWIN)
    assert back is not None and (back.active, back.merged_into_id) == (True, None)
    with pytest.raises(Conflict) as err:
        pm.patients.undo_merge(merge_id)
    assert err.value.code == "already_undone"
    appointment = pm.scheduling.find_appointments("A1")[0]
    assert appointment.meta.version == 3  # booked, moved, moved back
    assert pm.history.of("appointments", appointment.id)[-1].actor == "admin:ann"


# --- claims ----------------------------------------------------------------------------------


def test_a_claim_is_built_from_the_encounters_open_charges(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = billed_claim(pm)
    claim = pm.billing.claim(pcn)
    assert claim is not None
    assert claim.status is ClaimStatus.READY  # a primary payer is known
    assert claim.total_charge == Decimal("165.50")
    assert claim.diagnosis_codes == ("E11.9", "I10", "R00.0")
    assert [(ln.line_number, ln.code, ln.diagnosis_pointers) for ln in claim.lines] == [
        (1, "99213", (1, 2)),
        (2, "93000", (2, 3)),
    ]
    assert [ln.line_item_control_number for ln in claim.lines] == [f"{pcn}-1", f"{pcn}-2"]
    patient = pm.patients.get(ANNA)
    assert patient is not None
    charges = pm.billing.charges_of(patient.id)
    assert {c.status for c in charges} == {ChargeStatus.BILLED}
    assert {c.claim_id for c in charges} == {claim.id}
    assert pm.apply(BuildClaim(ANNA)) is None  # nothing open any more
    # a late charge joins the claim while it is still ready: one claim per encounter and payer
    pm.apply(charge(ANNA, "T3", "36415", "10.00", ("E11.9",)))
    assert pm.apply(BuildClaim(ANNA)) == claim.id
    grown = pm.billing.claim(pcn)
    assert grown is not None and len(grown.lines) == 3 and grown.total_charge == Decimal("175.50")
    assert len(pm.billing.claims_of(patient.id)) == 1


def test_a_claim_without_a_payer_is_a_draft_and_cannot_be_submitted(pms: Pms) -> None:
    pm = pms.at(T0)
    register(pm, ANNA, coverage=False)
    pm.apply(charge(ANNA, "T1", "99213", "120.00", ("I10",)))
    pm.apply(BuildClaim(ANNA))
    patient = pm.patients.get(ANNA)
    assert patient is not None
    (claim,) = pm.billing.claims_of(patient.id)
    assert claim.status is ClaimStatus.DRAFT
    with pytest.raises(Conflict) as err:
        submit(pm, claim.patient_control_number)
    assert err.value.code == "illegal_transition"


def test_the_claim_lifecycle_follows_the_transition_table(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = billed_claim(pm)
    submit(pm, pcn)
    submit(pm, pcn)  # the same submission again: a replay
    sub = pm.billing.submission("CLEARCO", "000000001", "1", "0001")
    assert sub is not None and sub.claim_numbers == (pcn,)
    pm.apply(RecordAcknowledgment("CLEARCO", "000000001", "1", "0001", AckResult.ACCEPTED))
    claim = pm.billing.claim(pcn)
    assert claim is not None and claim.status is ClaimStatus.ACCEPTED
    event = ClaimStatusEvent(pcn, T0, "277CA", "A2", "20")
    with pytest.raises(Conflict) as err:
        pm.apply(RecordClaimStatus(event, ClaimStatus.DRAFT))  # accepted -> draft: illegal
    assert err.value.code == "illegal_transition"
    pm.apply(RecordClaimStatus(event, ClaimStatus.REJECTED))
    assert [e.source for e in pm.billing.status_events(pcn)] == ["999", "277CA"]
    rejected = pm.billing.claim(pcn)
    assert rejected is not None and rejected.status is ClaimStatus.REJECTED


def test_a_rejected_submission_rejects_its_claims(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = billed_claim(pm)
    submit(pm, pcn)
    reject = RecordAcknowledgment("CLEARCO", "000000001", "1", "0001", AckResult.REJECTED, "IK5 R")
    pm.apply(reject)
    claim = pm.billing.claim(pcn)
    assert claim is not None and claim.status is ClaimStatus.REJECTED
    sub = pm.billing.submission("CLEARCO", "000000001", "1", "0001")
    assert sub is not None and (sub.ack_result, sub.ack_reason) == (AckResult.REJECTED, "IK5 R")


def remittance(pcn: str, paid: str) -> Remittance:
    line = ServicePayment(
        "99213",
        Decimal("120.00"),
        Decimal(paid),
        line_item_control_number=f"{pcn}-1",
        adjustments=(Adjustment(AdjustmentGroup.CONTRACTUAL, "45", Decimal("20.00")),),
        remark_codes=("N130",),
    )
    return Remittance(
        payer=PAYER,
        trace_number="EFT12345",
        total_paid=Decimal(paid),
        payment_method="ACH",
        payment_date=date(2026, 11, 30),
        claims=(
            ClaimPayment(
                pcn,
                ClaimPaymentStatus.PRIMARY,
                Decimal("165.50"),
                Decimal(paid),
                payer_claim_number="PCN-PAYER-1",
                services=(line,),
            ),
        ),
        provider_adjustments=(
            ProviderAdjustment("1234567893", date(2026, 12, 31), "WO", Decimal("-5.00")),
        ),
    )


def test_a_remittance_posts_once(pms: Pms) -> None:
    pm = pms.at(T0)
    pcn = billed_claim(pm)
    submit(pm, pcn)
    first = pm.apply(PostRemittance(remittance(pcn, "100.00")))
    claim = pm.billing.claim(pcn)
    assert claim is not None and claim.status is ClaimStatus.PARTIALLY_PAID
    assert claim.payer_claim_number == "PCN-PAYER-1"
    # the same 835 again (same payer and TRN02), even with other amounts: nothing changes
    assert pm.apply(PostRemittance(remittance(pcn, "165.50"))) == first
    again = pm.billing.claim(pcn)
    assert again is not None and (again.status, again.version) == (claim.status, claim.version)
    posted = pm.remittances.remittance(PAYER, "EFT12345")
    assert posted is not None and posted.total_paid == Decimal("100.00")
    (cp,) = posted.claims
    assert cp.claim_id == claim.id
    (sp,) = cp.services
    assert sp.claim_line_id == claim.lines[0].id  # matched on the line item control number
    assert sp.adjustments[0].group is AdjustmentGroup.CONTRACTUAL
    assert posted.provider_adjustments[0].reason_code == "WO"


def test_eligibility_is_recorded_with_its_benefits(pms: Pms) -> None:
    pm = pms.at(T0)
    register(pm, ANNA)
    benefit = Benefit("co-payment", "30", "individual", True, Decimal("25.00"))
    check = EligibilityCheck("TRN-1", EligibilityStatus.ACTIVE, benefits=(benefit,))
    pm.apply(RecordEligibility(check, ANNA, coverage_priority=1))
    patient = pm.patients.get(ANNA)
    assert patient is not None
    (stored,) = pm.eligibility.checks_of(patient.id)
    assert stored.status is EligibilityStatus.ACTIVE and stored.benefits == (benefit,)
    (cov,) = pm.scheduling.coverages_of(patient.id)
    assert cov.eligibility_status is EligibilityStatus.ACTIVE and stored.coverage_id == cov.meta.id


# --- control numbers -----------------------------------------------------------------------------


def test_control_numbers_count_per_partner_and_kind_and_never_repeat(pms: Pms) -> None:
    pm = pms.at(T0)
    isa = [pm.next_control_number("CLEARCO", ControlNumberKind.INTERCHANGE) for _ in range(5)]
    assert isa == [1, 2, 3, 4, 5]
    assert pm.next_control_number("CLEARCO", ControlNumberKind.GROUP) == 1
    assert pm.next_control_number("OTHERCH", ControlNumberKind.INTERCHANGE) == 1
    assert pm.next_control_number("CLEARCO", ControlNumberKind.INTERCHANGE) == 6


# --- versions and history ------------------------------------------------------------------


def test_three_writes_leave_version_3_and_three_history_rows(pms: Pms) -> None:
    """Chosen: the create is version 1 with its own history row; each update that changes
    content adds one version and one row; a write that changes nothing adds neither."""
    register_only = UpsertPatient(ANNA, (), {"family_name": "DOE", "sex": "female"})
    pms.at(T0, actor="clerk").apply(register_only)
    pms.at(T0 + timedelta(minutes=1), actor="clerk").apply(
        UpsertPatient(ANNA, (), {"given_name": "ANNA"})
    )
    pm = pms.at(T0 + timedelta(minutes=2), actor="nurse")
    pm.apply(UpsertPatient(ANNA, (), {"family_name": "ROE"}))
    pm.apply(UpsertPatient(ANNA, (), {"family_name": "ROE"}))  # no change: no version
    patient = pm.patients.get(ANNA)
    assert patient is not None and patient.meta.version == 3
    assert patient.gender is AdministrativeGender.FEMALE
    history = pm.history.of("patients", patient.id)
    assert [(h.version, h.actor) for h in history] == [(1, "clerk"), (2, "clerk"), (3, "nurse")]
    assert history[0].changes["family_name"] == [None, "DOE"]
    assert history[1].changes == {"given_name": [None, "ANNA"]}
    assert history[2].changes == {"family_name": ["DOE", "ROE"]}
    assert history[2].changed_at == T0 + timedelta(minutes=2)


def test_errors_from_the_pm_carry_no_location(pms: Pms) -> None:
    pm = pms.at(T0)
    register(pm, ANNA)
    with pytest.raises(ValidationError) as err:
        pm.apply(UpsertEncounter(ANNA, "NO-SUCH-VISIT", {}, must_exist=True))
    assert (err.value.code, err.value.location) == ("unknown_key", None)
    with pytest.raises(HubError) as missing:
        pm.apply(UpsertCoverage(PatientKey("NORTH", "NOBODY"), 1, None, {}))
    assert (missing.value.code, missing.value.location) == ("unknown_key", None)


# --- one message's changes in one batch ------------------------------------------------------


def test_a_batch_finds_the_patient_its_first_change_wrote_and_forgets_a_changed_key(
    pms: Pms,
) -> None:
    """The SQL repositories remember, within one batch, the patient id each key resolved to;
    an identifier change (A47) in the batch must make the old key unknown again."""
    pm = pms.at(T0)
    new = PatientKey("NORTH", "MRN3")
    pm.apply_all(
        [
            UpsertPatient(ANNA_TWIN, (Identifier("MRN2", "NORTH", "MR"),), {"family_name": "X"}),
            UpsertEncounter(ANNA_TWIN, "V-1", {"status": "in-progress"}),
            ChangeIdentifier(ANNA_TWIN, Identifier("MRN3", "NORTH", "MR")),
            UpsertEncounter(new, "V-2", {"status": "in-progress"}),
        ]
    )
    moved = pm.patients.get(new)
    assert moved is not None and pm.patients.get(ANNA_TWIN) is None
    assert sorted(e.visit_number or "" for e in pm.scheduling.encounters_of(moved.id)) == [
        "V-1",
        "V-2",
    ]
    with pytest.raises(HubError) as err:
        pms.at(T0).apply_all(
            [
                UpsertPatient(new, (), {"family_name": "X"}),
                ChangeIdentifier(new, Identifier("MRN4", "NORTH", "MR")),
                UpsertEncounter(new, "V-3", {"status": "in-progress"}),
            ]
        )
    assert err.value.code == "unknown_key"


def test_a_resent_identifier_is_kept_once_also_without_an_authority(pms: Pms) -> None:
    pm = pms.at(T0)
    ids = (Identifier("MRN1", "NORTH", "MR"), Identifier("123-45-0000"), Identifier("123-45-0000"))
    for _ in range(2):
        pm.apply(UpsertPatient(ANNA, ids, {"family_name": "DOE"}))
    patient = pm.patients.get(ANNA)
    assert patient is not None
    assert sorted(i.value for i in patient.identifiers) == ["123-45-0000", "MRN1"]
