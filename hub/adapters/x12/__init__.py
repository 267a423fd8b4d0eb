"""X12 5010: a streaming core (ADR 0017).

* :mod:`.tokenizer`: bytes to :class:`~.tokenizer.Segment` objects, delimiters from each ISA;
* :mod:`.envelope`: ISA/IEA, GS/GE, ST/SE checked while walking; transaction sets streamed;
* :mod:`.report`: a whole file's envelope result (for the peek, the TA1/999 and goldens);
* :mod:`.builder`: output that cannot be built wrong (counts, control numbers, HL, LX);
* :mod:`.errors`: typed errors with their TA1 / 999 codes.
"""
