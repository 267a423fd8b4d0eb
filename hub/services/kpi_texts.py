"""What each KPI counts, in the words shown beside it (API ``method``, console page, CSV)."""

from __future__ import annotations

CLEAN_CLAIMS = (
    "Claims whose first submission (837P) was in the period and has a 999 verdict. Clean: that "
    "first 999 accepted it without errors (AK9/IK5 'A') and no 277CA ever returned it "
    "(categories A3, A4, A6, A7, A8). Rate = clean / decided; claims still awaiting their 999 "
    "are counted apart."
)
DENIALS = (
    "Claim payments (835 CLP) in remittances paid in the period, leaving out pended, reversal "
    "and not-our-claim ones (CLP02 5, 22, 23). Denied: CLP02 4, or processed with nothing paid. "
    "Rate = denied / adjudicated. By code: the CAS group and CARC on denied claim payments "
    "(claim or line level), each counting the claim payments that carry it."
)
DAYS_TO_PAYMENT = (
    "For each claim whose first payment (an 835 claim payment with an amount paid above zero) "
    "is dated in the period: days from the UTC day of its first submission to that payment "
    "date (BPR16). Average = total days / claims."
)
NET_COLLECTION = (
    "Payments / (charges - contractual adjustments), over the claim payments adjudicated in the "
    "period: CLP04 paid over CLP03 charged less the CO adjustments of claim payments that were "
    "not denied. Payer payments only: patient payments do not reach the hub."
)
AR_AGING = (
    "Claims first submitted by the period's end, with their open balance then: total charge "
    "less what 835s dated by the end paid and adjusted (every CAS group: PR moves to the "
    "patient). Only balances above zero, bucketed by days since first submission: 0-30, "
    "31-60, 61-90, 90+."
)
NO_SHOWS = (
    "Appointments starting in the period (S17 deletions left out), by provider (AIP) and week "
    "(Monday, UTC). No-show rate = no-shows (SIU S26) / scheduled; cancellation rate = "
    "cancelled (SIU S15) / scheduled."
)
ELIGIBILITY = (
    "Visits (booked or fulfilled appointments starting in the period) whose patient's latest "
    "271 answer on file at the start said inactive or unknown. Rate = failed / visits with an "
    "answer on file; visits with none are counted as unchecked."
)
REVENUE_PER_VISIT = (
    "835 payments (CLP04, to date) on the claims of encounters that arrived in the period "
    "(PV1-44) and were not cancelled, divided by the number of those encounters."
)
WAIT_TIME = (
    "Visits (booked or fulfilled appointments starting in the period) paired with an encounter "
    "of the same patient arriving the same UTC day (PV1-44): minutes from arrival to the "
    "scheduled start; a late arrival waits 0 and is counted as late. Average = total / visits."
)
