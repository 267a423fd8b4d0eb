"""Run one fuzz target for a bounded time: ``python -m fuzz.run TARGET [--seconds N]``.

With atheris installed (``pip install -e '.[fuzz]'``, what ``make fuzz`` does) the target runs
under libFuzzer, coverage-guided, on the hub's instrumented code: the corpus grows in
``var/fuzz/<target>/corpus`` (seeded from conformance/ and the kept regressions) and a crashing
input is written to ``var/fuzz/<target>/crash-*``. Without atheris the same target is fed by
hypothesis (random bytes, interesting tokens, mutated seeds) until the time is up, and a
failing input is written to ``var/fuzz/<target>/crash-hypothesis-*.bin``. Either way the exit
status is non-zero on a finding; keep the input as a regression (tests/fuzz/regressions/).

Extra arguments after ``--`` go to libFuzzer (``-max_len=65536``, ``-jobs=2``...).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from pathlib import Path

from fuzz.seeds import ROOT, seeds

TARGET_NAMES = ("hl7v2", "x12", "fhir_json", "fhir_xml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__)
    parser.add_argument("target", choices=TARGET_NAMES)
    parser.add_argument("--seconds", type=int, default=60, help="time budget (default 60)")
    parser.add_argument("--hypothesis", action="store_true", help="skip atheris even if present")
    parser.add_argument("libfuzzer", nargs="*", help="after --: arguments for libFuzzer")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # the parsers' warnings, once per input, are noise here
    out = ROOT / "var" / "fuzz" / args.target
    out.mkdir(parents=True, exist_ok=True)
    try:
        if args.hypothesis:
            raise ImportError("asked for hypothesis")
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        print(f"fuzz {args.target}: atheris not used ({exc}); hypothesis-driven bytes instead")
        return _with_hypothesis(args.target, args.seconds, out)
    return _with_atheris(atheris, args.target, args.seconds, out, args.libfuzzer)


def _with_atheris(atheris: object, target: str, seconds: int, out: Path, extra: list[str]) -> int:
    # instrument the hub before anything imports it, so coverage guides the mutations
    with atheris.instrument_imports(include=["hub"]):  # type: ignore[attr-defined]
        from fuzz import targets
    corpus, seed_dir = out / "corpus", out / "seeds"
    corpus.mkdir(exist_ok=True)
    seed_dir.mkdir(exist_ok=True)
    for data in seeds(target):
        (seed_dir / hashlib.sha1(data).hexdigest()).write_bytes(data)
    one = targets.TARGETS[target]

    def test_one_input(data: bytes) -> None:
        one(data)

    argv = [
        sys.argv[0],
        f"-max_total_time={seconds}",
        "-timeout=20",
        "-rss_limit_mb=4096",
        "-max_len=4096",  # short inputs: more runs a second; raise with -- -max_len=N
        f"-artifact_prefix={out}/",
        *extra,
        str(corpus),
        str(seed_dir),
    ]
    print(f"fuzz {target}: atheris/libFuzzer for {seconds} s, corpus {corpus}")
    atheris.Setup(argv, test_one_input)  # type: ignore[attr-defined]
    atheris.Fuzz()  # type: ignore[attr-defined]  # exits the process at the time limit
    return 0


def _with_hypothesis(target: str, seconds: int, out: Path) -> int:
    import warnings

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import HypothesisWarning

    from fuzz import targets
    from fuzz.strategies import raw_inputs

    warnings.filterwarnings("ignore", category=HypothesisWarning)  # large reprs of inputs
    one = targets.TARGETS[target]
    strategy = raw_inputs(list(seeds(target)))
    deadline = time.monotonic() + seconds
    runs = 0
    failing: list[bytes] = []

    @settings(
        max_examples=500,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def batch(data: bytes) -> None:
        try:
            one(data)
        except BaseException:
            failing[:] = [data]  # the last (after shrinking: the smallest) failing input
            raise

    while time.monotonic() < deadline:
        try:
            batch()
        except Exception as exc:  # a finding: keep the input, report, fail
            data = failing[0] if failing else b""
            path = out / f"crash-hypothesis-{hashlib.sha1(data).hexdigest()}.bin"
            path.write_bytes(data)
            print(f"fuzz {target}: {type(exc).__name__}: {exc}\n  input kept in {path}")
            return 1
        runs += 500
    print(f"fuzz {target}: {runs} hypothesis inputs in {seconds} s, no finding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
