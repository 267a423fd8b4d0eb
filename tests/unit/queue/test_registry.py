"""Processor look-up order: exact type, then the family (``ADT^*``), then the protocol (``*``)."""

from __future__ import annotations

import pytest

from hub.errors import UnsupportedError
from hub.queue.registry import ProcessContext, ProcessorRegistry


def named(name: str):  # type: ignore[no-untyped-def]
    def processor(ctx: ProcessContext) -> None:
        raise AssertionError(name)

    processor.__name__ = name
    return processor


@pytest.fixture
def registry() -> ProcessorRegistry:
    reg = ProcessorRegistry()
    reg.register("hl7v2", "ADT^A01", named("exact"))
    reg.register("hl7v2", "ADT^*", named("family"))
    reg.register("hl7v2", "*", named("protocol"))
    reg.register("x12", "835", named("x12-835"))
    return reg


@pytest.mark.parametrize(
    ("protocol", "type_", "expected"),
    [
        ("hl7v2", "ADT^A01", "exact"),
        ("hl7v2", "ADT^A08", "family"),
        ("hl7v2", "ADT", "family"),
        ("hl7v2", "SIU^S12", "protocol"),
        ("hl7v2", "", "protocol"),
        ("x12", "835", "x12-835"),
    ],
)
def test_lookup_order(
    registry: ProcessorRegistry, protocol: str, type_: str, expected: str
) -> None:
    assert registry.lookup(protocol, type_).__name__ == expected


@pytest.mark.parametrize(("protocol", "type_"), [("x12", "837"), ("fhir", "Patient"), ("x12", "")])
def test_unknown_is_a_permanent_unsupported_error(
    registry: ProcessorRegistry, protocol: str, type_: str
) -> None:
    with pytest.raises(UnsupportedError) as info:
        registry.lookup(protocol, type_)
    assert info.value.code == "no_processor" and not info.value.retryable


def test_later_registration_replaces_and_types_are_listed(registry: ProcessorRegistry) -> None:
    registry.register("hl7v2", "ADT^A01", named("replacement"))
    assert registry.lookup("hl7v2", "ADT^A01").__name__ == "replacement"
    assert ("x12", "835") in registry.types() and registry.types() == sorted(registry.types())


def test_supported_types_follow_registrations() -> None:
    registry = ProcessorRegistry()
    registry.register("hl7v2", "ADT^A01", lambda ctx: None)
    assert registry.supported("hl7v2") == {"ADT^A01"}
    registry.register("hl7v2", "SIU^*", lambda ctx: None)
    registry.register("x12", "835", lambda ctx: None)
    assert registry.supported("hl7v2") == {"ADT^A01", "SIU^*"}
    assert registry.supported("x12") == {"835"}


def test_splitters_are_looked_up_like_processors_and_absent_for_single_units() -> None:
    from hub.queue.registry import WorkItem

    def split_835(doc: object) -> list[WorkItem]:
        return [WorkItem(type="835^CLP", raw=b"CLP*1~", lane_keys=("claim:1",))]

    def peek(raw: bytes, type_: str) -> WorkItem:
        return WorkItem(type=type_, raw=raw)

    reg = ProcessorRegistry()
    reg.register("hl7v2", "*", named("protocol"))
    assert reg.lookup_splitter("hl7v2", "ADT^A01") is None  # no splitter registered at all
    reg.register_splitter("x12", "835^*", split_835, peek_item=peek)
    assert reg.lookup_splitter("x12", "835^005010X221A1") is split_835
    # an item's type may fall in the family: the pipeline never splits an item (document_id)
    assert reg.lookup_splitter("x12", "835^CLP") is split_835
    assert reg.lookup_splitter("x12", "277^CA") is None
    assert reg.lookup_splitter("hl7v2", "ADT^A01") is None
    assert reg.item_peeker("x12") is peek and reg.item_peeker("hl7v2") is None
    assert "835^*" in reg.supported("x12")
