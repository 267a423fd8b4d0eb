"""X12 5010 tokenizer, envelopes, builders and readers (a later issue)."""
