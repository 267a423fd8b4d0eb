"""Indexes behind the PM searches that protocols serve (FHIR search, :mod:`hub.store.pm_read`):
every column a search compares or sorts on, and the reference columns ``_include`` and the
patient compartment follow. Declared here, beside the tables they index, so the models match
migration ``0010_fhir_read``.

Names are searched case-insensitively by prefix (``lower(col) LIKE 'x%'``); the plain index on
the column serves equality and sorting, not that match (ADR 0020 says why that is accepted)."""

from __future__ import annotations

from sqlalchemy import Index

from hub.store.pm_tables import (
    appointments,
    claim_payments,
    claims,
    coverages,
    encounters,
    organizations,
    patients,
    pm_history,
    providers,
    remittances,
)

SEARCH_INDEXES = (
    Index("ix_patients_family_name", patients.c.family_name),
    Index("ix_patients_birth_date", patients.c.birth_date),
    Index("ix_patients_updated_at", patients.c.updated_at),
    Index("ix_providers_family_name", providers.c.family_name),
    Index("ix_organizations_name", organizations.c.name),
    Index("ix_appointments_start", appointments.c.start),
    Index("ix_appointments_provider", appointments.c.provider_id, appointments.c.start),
    Index("ix_encounters_admit_at", encounters.c.admit_at),
    Index("ix_coverages_payer", coverages.c.payer_org_id),
    Index("ix_claims_patient", claims.c.patient_id),
    Index("ix_claims_created_at", claims.c.created_at),
    Index("ix_claim_payments_claim", claim_payments.c.claim_id),
    Index("ix_claim_payments_remittance", claim_payments.c.remittance_id),
    Index("ix_remittances_payment_date", remittances.c.payment_date),
    Index("ix_pm_history_type_changed", pm_history.c.entity_type, pm_history.c.changed_at),
)
