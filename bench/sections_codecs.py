"""Codec and FHIR rows of the table, each from the module that measures it on its own:
the HL7 tokenizer (:mod:`bench.hl7v2.run`), the 835 (:mod:`bench.x12.bench_835`), the 837P
(:mod:`bench.x12.bench_837p`), a FHIR transaction (:mod:`bench.fhir_write.run`) and FHIR search
(:mod:`bench.fhir.run`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bench.table import Aim, Ref, Row

FULL_835 = 30_000
FULL_837 = 10_000
FULL_TX = 1_000


def tokenizer_rows(n: int) -> Iterator[Row]:
    from bench.hl7v2.run import tokenizer_figures

    f = tokenizer_figures(n)
    yield Row(
        "parse",
        "HL7 parse + 5 field reads, hub tokenizer",
        1 / f["hub tokenizer"][0],
        "msgs/s",
        refs=(
            Ref("python-hl7", 1 / f["python-hl7"][0], "peer"),
            Ref("hl7apy", 1 / f["hl7apy"][0], "peer"),
        ),
        note=f"{n} messages (hl7apy on {f['hl7apy'][1]}); best of 3 (hl7apy once)",
    )


def _835_row(label: str, hub: dict[str, Any], peer: dict[str, Any], key: str, **kw: Any) -> Row:
    value = hub.get(key) if "error" not in hub else None
    ref = peer.get(key) if "error" not in peer else None
    note = "; ".join(f"{n} failed: {r['error']}" for n, r in (("hub", hub), ("pyx12", peer))
                     if "error" in r)  # fmt: skip
    unit = "s" if key == "seconds" else "MB"
    ref_label = "pyx12 validation" + (" peak RSS" if key == "rss_mb" else "")
    return Row("x12", label, value, unit, better="lower", refs=(Ref(ref_label, ref, "peer"),),
               note=note, **kw)  # fmt: skip


def x12_rows(claims_835: int, claims_837: int) -> Iterator[Row]:
    from bench.x12 import bench_835, bench_837p

    r = bench_835.measure(claims_835)
    full = claims_835 == FULL_835
    yield _835_row(f"835 read + balance, {claims_835:,} claims", r["read"], r["pyx12"], "seconds")
    yield _835_row(
        f"835 read + balance + post, {claims_835:,} claims",
        r["post"],
        r["pyx12"],
        "seconds",
        aim=Aim("<=", 3.0) if full else None,
    )
    yield _835_row(
        "835 post, peak RSS",
        r["post"],
        r["pyx12"],
        "rss_mb",
        aim=Aim("<=", 150.0) if full else None,
    )
    p = bench_837p.measure(claims_837, repeat=3 if claims_837 >= FULL_837 else 1)
    yield Row(
        "x12",
        f"837P build + write, {claims_837:,} claims",
        p["build_write"],
        "s",
        better="lower",
        refs=(
            Ref("write the bytes only", p["write_only"]),
            Ref("join rendered segments", p["join_only"]),
            Ref("pyx12 validation", p["pyx12"]["seconds"], "peer"),
        ),
        aim=Aim("<=", 1.5) if claims_837 == FULL_837 else None,
        note=f"{p['files']} files, {p['mb']:.1f} MB; pyx12 on {p['pyx12']['claims']:,} claims "
        f"as one file, valid={p['pyx12']['valid']}",
    )


def fhir_rows(entries: int, patients: int, reps: int) -> Iterator[Row]:
    from bench.fhir.run import search_measure
    from bench.fhir_write.run import measure

    tx = measure(entries)
    yield Row(
        "fhir",
        f"transaction Bundle, {entries:,} entries",
        tx["seconds"],
        "s",
        better="lower",
        refs=(Ref(f"{entries:,} bare patient INSERTs", tx["bare_insert_seconds"]),),
        aim=Aim("<=", 1.5) if entries == FULL_TX else None,
        note=f"status {tx['status']}, answered in the request; peak traced "
        f"{tx['peak_mib']:.1f} MiB; {tx['database']}",
    )
    for name, f in search_measure(patients, reps).items():
        for q in ("p50", "p95"):
            yield Row(
                "fhir",
                f"search {name} over {patients:,} patients, {q}",
                f[q],
                "ms",
                better="lower",
                refs=(Ref("bare SQL lookup", f[f"bare_{q}"]),),
            )
