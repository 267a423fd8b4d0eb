"""The X12 plug-in's processors and splitters (what :mod:`hub.protocols.x12` registers).

Documents of many claims are split into claim items (:mod:`hub.services.x12_split`): an 835
(checked whole for balance and duplicates first), a 277CA, a 277. Items and single-unit
documents are applied by :mod:`hub.services.x12_posting`, each with its pure prepare step.
"""

from __future__ import annotations

from hub.protocols.contract import Core, ProcessorSpec, SplitterSpec
from hub.services import x12_posting as posting
from hub.services import x12_split as split

# document types as the X12 peek files them (the transaction kind) -> what is done with them
SPLIT_DOCUMENTS = ("835", "277CA", "277")


def processor_specs(core: Core) -> list[ProcessorSpec]:
    del core
    return [
        ProcessorSpec(
            split.CLAIM_ITEM["835"],
            posting.process_835_claim,
            posting.prepare_835,
            process_many=posting.process_835_claims,
        ),
        ProcessorSpec(split.PLB_ITEM, posting.process_835_plb, posting.prepare_835),
        ProcessorSpec(split.CLAIM_ITEM["277CA"], posting.process_277, posting.prepare_277),
        ProcessorSpec(split.CLAIM_ITEM["277"], posting.process_277, posting.prepare_277),
        ProcessorSpec("999", posting.process_ack, posting.prepare_ack),
        ProcessorSpec("TA1", posting.process_ack, posting.prepare_ack),
        ProcessorSpec("271", posting.process_271, posting.prepare_271),
    ]


def splitter_specs(core: Core) -> list[SplitterSpec]:
    return [
        SplitterSpec(kind, split.splitter(core.uow), peek_item=split.peek_item)
        for kind in SPLIT_DOCUMENTS
    ]
