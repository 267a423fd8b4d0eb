"""Streaming readers of the inbound X12 transaction sets: typed results, claim by claim.

Each reader takes one transaction set's segments as :class:`~.segments.Seg` views (numbered
from ST = 1, as a 999 counts them) and yields typed results lazily: :mod:`.remittance` (835,
with :mod:`.balancing`), :mod:`.acknowledgment` (999 and TA1), :mod:`.claim_status` (277CA and
277), :mod:`.eligibility` (271). :mod:`.walk` joins them to the core's envelope walker.
Codes stay X12's own here; ``hub.mappings.x12_pm`` translates them for the PM.
"""
