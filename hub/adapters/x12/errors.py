"""Typed X12 errors, each carrying an :class:`hub.errors.X12Location` and the acknowledgment
code it maps to, so the TA1 and 999 writers render them without guessing.

::

    hub.errors.ParseError
    └── InterchangeError          envelope broken: answered by a TA1 (TA105 note code)
        ├── MissingEnvelope       no ISA at all (empty file, garbage, a bare ST)
        └── SegmentTooLong        a segment over the tokenizer's limit
    hub.errors.ValidationError
    ├── GroupError                GS/GE problem: 999 AK9 with AK905 (X12 element 716)
    └── TransactionSetError       ST/SE problem: 999 IK5 with IK502 (X12 element 718)
        └── SegmentError          a segment in error: IK3 with IK304 (element 620),
                                  and IK4 with IK403 (element 621) when an element is named

Codes are the X12 code lists' own values (strings: ``"001"``, ``"4"``, ``"I5"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hub.errors import ParseError, ValidationError, X12Location

if TYPE_CHECKING:
    from hub.adapters.x12.tokenizer import Segment

# TA105, X12 interchange note codes (element I18) used by the envelope checks.
TA1_CONTROL_NUMBER_MISMATCH = "001"
TA1_VERSION_NOT_SUPPORTED = "003"
TA1_SEGMENT_TERMINATOR = "004"
TA1_SENDER_QUALIFIER = "005"
TA1_SENDER_ID = "006"
TA1_RECEIVER_QUALIFIER = "007"
TA1_RECEIVER_ID = "008"
TA1_AUTHORIZATION_QUALIFIER = "010"
TA1_AUTHORIZATION_VALUE = "011"
TA1_SECURITY_QUALIFIER = "012"
TA1_SECURITY_VALUE = "013"
TA1_DATE = "014"
TA1_TIME = "015"
TA1_STANDARDS_ID = "016"
TA1_VERSION_ID = "017"
TA1_CONTROL_NUMBER = "018"
TA1_ACK_REQUESTED = "019"
TA1_TEST_INDICATOR = "020"
TA1_GROUP_COUNT = "021"
TA1_CONTROL_STRUCTURE = "022"
TA1_PREMATURE_EOF = "023"
TA1_INVALID_CONTENT = "024"
TA1_DUPLICATE = "025"
TA1_ELEMENT_SEPARATOR = "026"
TA1_COMPONENT_SEPARATOR = "027"

# AK905, functional group syntax error codes (element 716)
AK9_NOT_SUPPORTED = "1"
AK9_VERSION_NOT_SUPPORTED = "2"
AK9_TRAILER_MISSING = "3"
AK9_CONTROL_NUMBER_MISMATCH = "4"
AK9_COUNT_MISMATCH = "5"
AK9_CONTROL_NUMBER_SYNTAX = "6"

# IK502, transaction set syntax error codes (element 718)
IK5_NOT_SUPPORTED = "1"
IK5_TRAILER_MISSING = "2"
IK5_CONTROL_NUMBER_MISMATCH = "3"
IK5_COUNT_MISMATCH = "4"
IK5_SEGMENTS_IN_ERROR = "5"
IK5_INVALID_SET_ID = "6"
IK5_INVALID_CONTROL_NUMBER = "7"
IK5_CONTROL_NUMBER_NOT_UNIQUE = "23"

# IK304, segment syntax error codes (element 620)
IK3_UNRECOGNIZED_SEGMENT = "1"
IK3_UNEXPECTED_SEGMENT = "2"
IK3_REQUIRED_MISSING = "3"
IK3_NOT_IN_SET = "6"
IK3_OUT_OF_SEQUENCE = "7"
IK3_ELEMENT_ERRORS = "8"

# IK403, element syntax error codes (element 621)
IK4_REQUIRED_MISSING = "1"
IK4_TOO_MANY_ELEMENTS = "3"
IK4_TOO_SHORT = "4"
IK4_TOO_LONG = "5"
IK4_INVALID_CHARACTER = "6"
IK4_INVALID_CODE = "7"
IK4_INVALID_DATE = "8"
IK4_INVALID_TIME = "9"


class InterchangeError(ParseError):
    """The interchange envelope is broken: nothing inside it is processed; answered by a TA1."""

    code = "x12_interchange"

    def __init__(
        self,
        message: str,
        *,
        ta1_code: str,
        location: X12Location | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code, location=location)
        self.ta1_code = ta1_code
        # the ISA of the broken interchange, when one was read: the TA1 answers its ISA13
        self.isa: Segment | None = None


class MissingEnvelope(InterchangeError):
    """No ISA where the file starts: empty, binary garbage, or a transaction set without its
    ISA/GS envelope."""

    code = "x12_no_envelope"


class SegmentTooLong(InterchangeError):
    code = "x12_segment_too_long"


class GroupError(ValidationError):
    """A functional group (GS..GE) is broken: its transaction sets are rejected (AK9)."""

    code = "x12_group"

    def __init__(
        self,
        message: str,
        *,
        ak905: str,
        group_control_number: str,
        location: X12Location | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code, location=location)
        self.ak905 = ak905
        self.group_control_number = group_control_number


class TransactionSetError(ValidationError):
    """A transaction set (ST..SE) is rejected (IK5 with IK502)."""

    code = "x12_transaction_set"

    def __init__(
        self,
        message: str,
        *,
        ik502: str,
        set_id: str,
        control_number: str,
        location: X12Location | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code, location=location)
        self.ik502 = ik502
        self.set_id = set_id
        self.control_number = control_number


class SegmentError(TransactionSetError):
    """One segment in error inside a transaction set: IK3 (IK304), and IK4 (IK403) when
    ``ik403`` is given with the location's element position. Rejects its set with IK502 5."""

    code = "x12_segment"

    def __init__(
        self,
        message: str,
        *,
        ik304: str,
        set_id: str,
        control_number: str,
        location: X12Location,
        ik403: str | None = None,
        bad_value: str | None = None,
    ) -> None:
        super().__init__(
            message,
            ik502=IK5_SEGMENTS_IN_ERROR,
            set_id=set_id,
            control_number=control_number,
            location=location,
        )
        self.ik304 = ik304
        self.ik403 = ik403
        # IK404 (copy of the bad element): callers pass it only when it cannot be patient data
        self.bad_value = bad_value


class BuildError(ValidationError):
    """The builder refused a value or a structure: the output would not be valid X12 (a
    delimiter inside a value, an ISA id over 15 characters, an empty transaction set...)."""

    code = "x12_build"
