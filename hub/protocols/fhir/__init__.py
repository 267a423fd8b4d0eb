"""FHIR R4 as a protocol plug-in (its own issue): fills hub.protocols.contract."""
