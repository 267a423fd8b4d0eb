"""FHIR R4 (4.0.1) codec: JSON and XML in and out (:mod:`.formats`), content negotiation
(:mod:`.negotiation`), OperationOutcome (:mod:`.outcome`) and validation through the
``fhir.resources.R4B`` models (:mod:`.models`).

Pure: no database, no web framework, no services. Library errors (lxml, pydantic) are
translated here into :mod:`hub.errors` values carrying a :class:`~hub.errors.FhirLocation`.
"""
