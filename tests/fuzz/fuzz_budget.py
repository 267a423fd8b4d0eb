"""The hypothesis budget of the fuzz tests, one profile per use (issue 9 item 3).

``HUB_FUZZ_PROFILE`` picks it: ``ci`` (the default, what ``make test`` and CI run: 200 examples
a test, fixed under CI, no per-example deadline, about a minute for the whole package on the
2-core machine), ``dev`` (a quick look, 50) or ``deep`` (20,000 examples a test, for a long
local run). The profiles are applied per test (``@FUZZ``), so the other property tests keep
their own settings.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

_COMMON: dict[str, Any] = {
    "deadline": None,  # no test asserts a time: a slow example on a busy machine is no failure
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,  # a failure prints the @reproduce_failure blob
}
# Under CI the examples are derived from each test's name (the same 200 every run), so a red
# build always names a change, never the luck of the draw; finding new inputs is the job of
# local runs, the ``deep`` profile and ``make fuzz``.
settings.register_profile(
    "fuzz-ci", max_examples=200, derandomize=bool(os.environ.get("CI")), **_COMMON
)
settings.register_profile("fuzz-dev", max_examples=50, **_COMMON)
settings.register_profile("fuzz-deep", max_examples=20_000, **_COMMON)

PROFILE = os.environ.get("HUB_FUZZ_PROFILE", "ci")
FUZZ = settings.get_profile(f"fuzz-{PROFILE}")
# the tests that go through the whole app (a stored write per example) take fewer
FUZZ_APP = settings(FUZZ, max_examples=max(10, FUZZ.max_examples // 4))
