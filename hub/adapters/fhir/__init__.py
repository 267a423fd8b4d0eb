"""FHIR R4 codec (a later issue)."""
