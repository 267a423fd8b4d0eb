"""Synthetic X12 files and a stand-in reader for the X12 ingest and folder tests.

:func:`claim_readers` is a start-up hook (``HUB_PLUGINS=x12_support:claim_readers``) that
splits an 835 into one item per CLP and fails the claims whose CLP01 starts with ``FAIL``:
enough to prove that the entry points report a document's items, not what the real readers
(another branch) do with them.
"""

from __future__ import annotations

from collections.abc import Iterator

from hub.adapters.x12.envelope import TransactionSet, walk
from hub.bootstrap import Hub
from hub.errors import MappingError
from hub.queue.registry import ProcessContext, WorkItem
from hub.store.messages import MessageRecord


def isa(control: str = "000000123", sender: str = "CLEARHOUSE", ack: str = "0") -> str:
    return (
        f"ISA*00*          *00*          *ZZ*{sender.ljust(15)}*ZZ*{'HUBPRACTICE'.ljust(15)}*"
        f"260101*1200*^*00501*{control}*{ack}*P*:~"
    )


def file_835(
    *claims: str, control: str = "000000123", sender: str = "CLEARHOUSE", ack: str = "0"
) -> bytes:
    body = ["BPR*I*100*C*CHK************20260101", "TRN*1*EFT1*1512345678"]
    for n, pcn in enumerate(claims or ("PCN1",), start=1):
        body += [f"LX*{n}", f"CLP*{pcn}*1*100*100**12*PAYERREF{n}"]
    segments = [
        "GS*HP*CLEARHOUSE*HUBPRACTICE*20260101*1200*55*X*005010X221A1",
        "ST*835*0001",
        *body,
        f"SE*{len(body) + 2}*0001",
        "GE*1*55",
        f"IEA*1*{control}",
    ]
    return (isa(control, sender, ack) + "~\n".join(segments) + "~\n").encode()


def _split(rec: MessageRecord) -> Iterator[WorkItem]:
    assert rec.raw is not None
    for item in walk(rec.raw):
        if not isinstance(item, TransactionSet):
            continue
        for seg in item:
            if seg.id == "CLP":
                pcn = seg.element(1)
                yield WorkItem("835-claim", seg.render().encode(), (f"claim:{pcn}",), pcn)


def _process(ctx: ProcessContext) -> None:
    if ctx.message.control_id.startswith("FAIL"):
        raise MappingError("claim not found", code="unmatched_claim")


def claim_readers(hub: Hub) -> None:
    hub.registry.register_splitter("x12", "835", _split)
    hub.registry.register("x12", "835-claim", _process)
