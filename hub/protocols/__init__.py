"""Protocol plug-ins: one package per protocol (``hub.protocols.hl7v2``; X12 and FHIR next).

Each fills the one typed contract in :mod:`hub.protocols.contract` and is registered at the
composition root (:func:`hub.bootstrap.default_plugins`, or ``HUB_PLUGINS``). The core (queue,
store, generic services, app factory, CLI root) never names a protocol, and protocol packages
never import each other (import-linter): only ``hub.mappings`` combines formats.
See docs/recipes/adding-a-protocol.md and docs/adr/0008-typed-protocol-plugins.md.
"""
