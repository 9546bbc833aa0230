"""Relevance quality of feeds/social per held-out event: macro-F1 on CrisisLexT26 and CrisisLexT6.

    python bench/social_eval.py [--data ../shared/data/social/sample] [--json OUT]

Reads the labelled tweets at run time from the shared data folder (research-only data that the
project does not redistribute) and says so clearly when it is absent. Nothing is fitted: the
scorer is the shipped hand-written lexicon, so every event is held out. Figures:
(a) related vs not related and (b) "Related and informative" vs the rest, on CrisisLexT26
("Not applicable" rows are left out of (a)); (c) on-topic vs off-topic on CrisisLexT6.
Macro-F1 is the mean of the two classes' F1. Two configurations: the default rules (CrisisLex
lexicon) and the default rules plus the event's own collection keywords, as an operator would
add for an event (T26 lists them in its event description).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.social.relevance import assess  # noqa: E402
from feeds.social.rules import Rules, compile_rules  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "social" / "sample"


def macro_f1(truth: list[bool], pred: list[bool]) -> float:
    """Mean F1 of the positive and the negative class."""
    f1s = []
    for cls in (True, False):
        tp = sum(1 for t, p in zip(truth, pred) if t == cls and p == cls)
        fp = sum(1 for t, p in zip(truth, pred) if t != cls and p == cls)
        fn = sum(1 for t, p in zip(truth, pred) if t == cls and p != cls)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / 2


def t26_events(folder: Path) -> list[tuple[str, list[tuple[str, str]], list[str]]]:
    """(event, [(text, informativeness)], collection keywords) per CrisisLexT26 event."""
    out = []
    for f in sorted(folder.glob("*-tweets_labeled.csv")):
        name = f.name.removesuffix("-tweets_labeled.csv")
        with f.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = [(r[1], r[4].strip()) for r in list(csv.reader(fh))[1:] if len(r) >= 5]
        desc = folder / f"{name}-event_description.json"
        keywords = json.loads(desc.read_text(encoding="utf-8")).get("keywords", []) if desc.exists() else []
        out.append((name, rows, keywords))
    return out


def t6_events(folder: Path) -> list[tuple[str, list[tuple[str, bool]]]]:
    """(event, [(text, on-topic)]) per CrisisLexT6 event."""
    out = []
    for f in sorted(folder.glob("*-ontopic_offtopic.csv")):
        with f.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = [(r[1], r[2].strip() == "on-topic") for r in list(csv.reader(fh))[1:] if len(r) >= 3]
        out.append((f.name.removesuffix("-ontopic_offtopic.csv"), rows))
    return out


def decide(texts: list[str], keywords: list[str]) -> list[tuple[bool, bool]]:
    rules = compile_rules(Rules(keywords=keywords))
    out = []
    for text in texts:
        a = assess(rules.match(text))
        out.append((a.related, a.informative))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with crisislex_t26/ and crisislex_t6/")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    t26, t6 = args.data / "crisislex_t26", args.data / "crisislex_t6"
    if not t26.is_dir() or not t6.is_dir():
        print(f"social_eval: labelled data not found under {args.data} (needs crisislex_t26/ and crisislex_t6/); "
              "it is research-only data that the project does not ship, so this evaluation cannot run here.",
              file=sys.stderr)
        return 2
    results: dict[str, dict] = {}
    for config in ("default rules", "default + event keywords"):
        a_scores, b_scores, c_scores = {}, {}, {}
        for name, rows, keywords in t26_events(t26):
            preds = decide([t for t, _ in rows], keywords if config != "default rules" else [])
            labelled = [(lab, p) for (_, lab), p in zip(rows, preds)]
            rel = [(lab.startswith("Related"), p[0]) for lab, p in labelled if lab != "Not applicable"]
            a_scores[name] = macro_f1([t for t, _ in rel], [p for _, p in rel])
            b_scores[name] = macro_f1([lab == "Related and informative" for lab, _ in labelled],
                                      [p[1] for _, p in labelled])
        if config == "default rules":
            for name, rows in t6_events(t6):
                preds = decide([t for t, _ in rows], [])
                c_scores[name] = macro_f1([lab for _, lab in rows], [p[0] for p in preds])
        results[config] = {"a_related": a_scores, "b_informative": b_scores, "c_on_topic": c_scores}

    targets = {"a_related": 0.75, "b_informative": 0.82, "c_on_topic": 0.90}
    for config, figures in results.items():
        print(f"== {config}")
        for key, per_event in figures.items():
            if not per_event:
                continue
            mean = sum(per_event.values()) / len(per_event)
            low = min(per_event, key=per_event.get)
            print(f"  {key:14s} mean macro-F1 {mean:.3f} over {len(per_event)} held-out events "
                  f"(target {targets[key]:.2f}; worst {low} {per_event[low]:.3f})")
            figures[key] = {"mean": round(mean, 4), "per_event": {k: round(v, 4) for k, v in per_event.items()}}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
