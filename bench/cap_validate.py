"""Parse + full CAP validation per second, as a ratio against XSD validation alone (same messages, same run).

Messages: every CAP alert in tests/data/cap/messages and spec_examples (shipped with the project).
- baseline: hardened parse (``parse_xml``) + XSD validation of each <alert> element (lxml, the shipped XSD);
- full:     ``validate_document`` with profiles schema + core + IPAWS + WEA (parse, model, XSD, every rule).
Rounds alternate baseline/full; the ratio is of the medians. With ``--shared`` it also reports the
validator's verdicts over all of /work/shared/data/cap (not redistributable as a whole; says when absent).

    .venv/bin/python bench/cap_validate.py [--rounds 5] [--repeat 20] [--shared]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts.cap.model import VERSION_OF  # noqa: E402
from alerts.cap.validate import check_schema, has_errors, validate_document  # noqa: E402
from alerts.cap.xml import alert_elements, alert_from_element, namespace, parse_xml  # noqa: E402
from emergency.progress import Progress  # noqa: E402

DATA = ROOT / "tests" / "data" / "cap"
SHARED = Path("/work/shared/data/cap")
FULL = ("schema", "core", "ipaws", "wea")


def messages() -> list[bytes]:
    """The sample documents holding CAP 1.1/1.2 alerts (1.0 has no XSD, so it is left out of both sides)."""
    out = []
    for path in sorted((DATA / "messages").glob("*.xml")) + sorted((DATA / "spec_examples").glob("*.xml")):
        data = path.read_bytes()
        if all(alert_from_element(el).version in ("1.1", "1.2") for el in alert_elements(parse_xml(data))):
            out.append(data)
    return out


def xsd_only(docs: list[bytes]) -> None:
    for data in docs:
        for el in alert_elements(parse_xml(data)):
            check_schema(el, VERSION_OF[namespace(el.tag)])


def full(docs: list[bytes]) -> None:
    for data in docs:
        validate_document(data, FULL)


def timed(fn, docs: list[bytes], repeat: int) -> float:
    """Documents per second over ``repeat`` passes."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn(docs)
    return len(docs) * repeat / (time.perf_counter() - start)


def shared_evaluation() -> None:
    if not SHARED.is_dir():
        print(f"shared evaluation: {SHARED} is absent; skipped (the benchmark itself uses only project files)")
        return
    files = sorted(SHARED.rglob("*.xml"))
    verdicts: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    for path in files:
        _, findings = validate_document(path.read_bytes(), ("schema", "core"))
        verdicts["error" if has_errors(findings) else "pass"] += 1
        codes.update(f.code for f in findings if f.level == "error")
    print(f"shared evaluation over {len(files)} XML files in {SHARED} (profile core): "
          f"{verdicts['pass']} pass, {verdicts['error']} with errors")
    for code, n in codes.most_common():
        print(f"  {code:<34} {n}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="baseline/full pairs (default 5)")
    p.add_argument("--repeat", type=int, default=20, help="passes over the messages per measurement (default 20)")
    p.add_argument("--shared", action="store_true", help="also evaluate every file of /work/shared/data/cap")
    args = p.parse_args()
    docs = messages()
    n_alerts = sum(len(alert_elements(parse_xml(d))) for d in docs)
    xsd_only(docs), full(docs)  # warm-up: schemas loaded, caches filled
    base, mine = [], []
    with Progress("cap benchmark", args.rounds * 2) as bar:
        for _ in range(args.rounds):
            base.append(timed(xsd_only, docs, args.repeat))
            bar.advance()
            mine.append(timed(full, docs, args.repeat))
            bar.advance()
    b, m = statistics.median(base), statistics.median(mine)
    print(f"messages: {len(docs)} documents, {n_alerts} alerts (CAP 1.1/1.2 samples in tests/data/cap)")
    print(f"XSD validation alone:                 {b:8.0f} documents/s (median of {args.rounds})")
    print(f"parse + full validation (XSD+core+IPAWS+WEA): {m:8.0f} documents/s")
    print(f"ratio full / XSD-only: {m / b:.2f}")
    if args.shared:
        shared_evaluation()
    return 0


if __name__ == "__main__":
    sys.exit(main())
