"""hub: an interoperability hub for medical practices (HL7 v2, FHIR R4, X12 5010)."""

__version__ = "0.1.0"
