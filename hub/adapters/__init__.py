"""Format codecs (hl7v2, fhir, x12) and transports (MLLP, HTTP, files). Adapters translate
third-party exceptions into :mod:`hub.errors` at their boundary."""
