"""Relevance quality of feeds/social per held-out event: macro-F1 on CrisisLexT26 and CrisisLexT6.

    python bench/social_eval.py [--data ../shared/data/social/sample] [--json OUT]

Reads the labelled tweets at run time from the shared data folder (research-only data that the
project does not redistribute) and says so clearly when it is absent.

Each event is replayed in tweet-id (time) order through the shipped scorer exactly as the
pipeline runs it: rules -> content words -> ``StreamVocabulary.judge`` (lexicon + the typicality
the stream has shown so far, learnt without labels). The only constants fitted to labels are
the two of the related decision (typicality weight, threshold): for each event they are chosen
on a grid to maximise the mean per-event macro-F1 of the *other* events (an event shared by T26
and T6, such as Alberta floods, is left out of both), so every printed figure is for an event
held out from the fitting. The constants chosen on all events are printed; they are the ones
``feeds/social/relevance.py`` ships.

Figures: (a) related vs not related and (b) "Related and informative" vs the rest, on
CrisisLexT26 ("Not applicable" rows are left out of (a)); (c) on-topic vs off-topic on
CrisisLexT6. Macro-F1 is the mean F1 over the classes present in the truth or the predictions
(scikit-learn's convention: 2013_NY_train_crash has no "Not related" tweet, so a filter that
keeps all of it scores 1.0 there rather than 0.5).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from feeds.social.relevance import RELATED_AT, TYPICALITY_WEIGHT, related_decision  # noqa: E402
from feeds.social.rules import Rules, compile_rules  # noqa: E402
from feeds.social.text import content_words  # noqa: E402
from feeds.social.vocabulary import StreamVocabulary  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "social" / "sample"
TARGETS = {"a_related": 0.75, "b_informative": 0.82, "c_on_topic": 0.90}
WEIGHTS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
THRESHOLDS = tuple(round(0.3 + 0.025 * i, 3) for i in range(17))  # 0.3 .. 0.7


def macro_f1(truth: list[bool], pred: list[bool]) -> float:
    """Mean F1 over the classes present in ``truth`` or ``pred``."""
    f1s = []
    for cls in (True, False):
        tp = sum(1 for t, p in zip(truth, pred) if t == cls and p == cls)
        fp = sum(1 for t, p in zip(truth, pred) if t != cls and p == cls)
        fn = sum(1 for t, p in zip(truth, pred) if t == cls and p != cls)
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 1.0


@dataclass
class Event:
    name: str
    dataset: str  # "t26" or "t6"
    labels: list[str]
    lexical: list[float]
    typicality: list[float]
    substantive: list[bool]


def _sorted_rows(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return sorted(rows, key=lambda r: int(r[0]) if r[0].isdigit() else 0)


def replay(name: str, dataset: str, rows: list[tuple[str, str, str]], keywords: list[str]) -> Event:
    """Run one event's (id, text, label) rows through the scorer in time order."""
    rules = compile_rules(Rules(keywords=keywords))
    vocabulary = StreamVocabulary()
    ev = Event(name, dataset, [], [], [], [])
    for _, text, label in _sorted_rows(rows):
        match = rules.match(text)
        a = vocabulary.judge(match, content_words(match.text))
        ev.labels.append(label)
        ev.lexical.append(a.lexical)
        ev.typicality.append(a.typicality)
        ev.substantive.append(a.substantive)
    return ev


def labelled_events(data: Path) -> list[tuple[str, str, list[tuple[str, str, str]], list[str]]]:
    """(name, "t26" or "t6", [(tweet id, text, label)], collection keywords) per labelled event."""
    events = []
    for f in sorted((data / "crisislex_t26").glob("*-tweets_labeled.csv")):
        name = f.name.removesuffix("-tweets_labeled.csv")
        with f.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = [(r[0].strip("'\" "), r[1], r[4].strip()) for r in list(csv.reader(fh))[1:] if len(r) >= 5]
        desc = f.with_name(f"{name}-event_description.json")
        keywords = json.loads(desc.read_text(encoding="utf-8")).get("keywords", []) if desc.exists() else []
        events.append((name, "t26", rows, keywords))
    for f in sorted((data / "crisislex_t6").glob("*-ontopic_offtopic.csv")):
        with f.open(encoding="utf-8", errors="replace", newline="") as fh:
            rows = [(r[0].strip("'\" "), r[1], r[2].strip()) for r in list(csv.reader(fh))[1:] if len(r) >= 3]
        events.append((f.name.removesuffix("-ontopic_offtopic.csv"), "t6", rows, []))
    return events


def same_event(a: str, b: str) -> bool:
    """The same real event across T26 and T6 ("2013_Alberta_floods" and "2013_Alberta_Floods")."""
    def key(name: str) -> str:
        return name.lower().replace("floods", "flood").replace("bombings", "bombing")
    return key(a) == key(b)


def figures(dataset: str, labels: list[str], related: list[bool], informative: list[bool]) -> dict[str, float]:
    """The macro-F1 figures of one event: (a) and (b) for T26, (c) for T6."""
    if dataset == "t6":
        return {"c_on_topic": macro_f1([lab == "on-topic" for lab in labels], related)}
    keep = [i for i, lab in enumerate(labels) if lab != "Not applicable"]
    return {
        "a_related": macro_f1([labels[i].startswith("Related") for i in keep], [related[i] for i in keep]),
        "b_informative": macro_f1([lab == "Related and informative" for lab in labels], informative),
    }


def missing_data(data: Path, tool: str) -> bool:
    """True (after saying so on stderr) when the labelled sets are not under ``data``."""
    if (data / "crisislex_t26").is_dir() and (data / "crisislex_t6").is_dir():
        return False
    print(f"{tool}: labelled data not found under {data} (needs crisislex_t26/ and crisislex_t6/); "
          "it is research-only data that the project does not ship, so this evaluation cannot run here.",
          file=sys.stderr)
    return True


def read_events(data: Path, with_keywords: bool) -> list[Event]:
    return [replay(name, dataset, rows, keywords if with_keywords else [])
            for name, dataset, rows, keywords in labelled_events(data)]


def scores(ev: Event, weight: float, at: float) -> dict[str, float]:
    """The event's macro-F1 figures with the related decision (weight, at)."""
    related = [related_decision(lx, ty, weight=weight, at=at) for lx, ty in zip(ev.lexical, ev.typicality)]
    return figures(ev.dataset, ev.labels, related, [r and s for r, s in zip(related, ev.substantive)])


def objective(table: dict[tuple[float, float], dict[str, dict[str, float]]], grid_point: tuple[float, float],
              names: set[str]) -> float:
    """Mean over the figures (a), (b), (c) of the mean per-event macro-F1 over ``names``."""
    per_key: dict[str, list[float]] = {}
    for name, figures in table[grid_point].items():
        if name in names:
            for key, value in figures.items():
                per_key.setdefault(key, []).append(value)
    return sum(sum(v) / len(v) for v in per_key.values()) / len(per_key)


def evaluate(events: list[Event]) -> dict:
    grid = [(w, t) for w in WEIGHTS for t in THRESHOLDS]
    table = {g: {ev.name: scores(ev, *g) for ev in events} for g in grid}
    held_out: dict[str, dict[str, float]] = {}
    chosen: dict[str, tuple[float, float]] = {}
    for ev in events:
        others = {o.name for o in events if not same_event(o.name, ev.name)}
        g = max(grid, key=lambda g: objective(table, g, others))
        chosen[ev.name] = g
        for key, value in table[g][ev.name].items():
            held_out.setdefault(key, {})[ev.name] = value
    overall = max(grid, key=lambda g: objective(table, g, {e.name for e in events}))
    return {"held_out": held_out, "chosen_per_event": chosen, "chosen_on_all": overall,
            "shipped": {k: v for k, v in zip(("weight", "at"), (TYPICALITY_WEIGHT, RELATED_AT))},
            "lexicon_only": {k: {e.name: table[(0.0, 0.5)][e.name][k] for e in events if k in table[(0.0, 0.5)][e.name]}
                             for k in TARGETS}}


def print_figures(held_out: dict[str, dict[str, float]], lexicon_only: dict[str, dict[str, float]] | None = None
                  ) -> None:
    """One line per figure: mean macro-F1 over the held-out events, the target, the worst event."""
    for key, per_event in held_out.items():
        mean = sum(per_event.values()) / len(per_event)
        low = min(per_event, key=per_event.get)
        base = f"lexicon alone {sum(lexicon_only[key].values()) / len(lexicon_only[key]):.3f}; " if lexicon_only else ""
        print(f"  {key:14s} macro-F1 {mean:.3f} over {len(per_event)} held-out events (target {TARGETS[key]:.2f}; "
              f"{base}worst {low} {per_event[low]:.3f})")


def arguments(doc: str, tool: str) -> argparse.Namespace | None:
    """--data and --json of the evaluation scripts; None (after saying why) when the data is absent."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with crisislex_t26/ and crisislex_t6/")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    return None if missing_data(args.data, tool) else args


def main() -> int:
    args = arguments(__doc__, "social_eval")
    if args is None:
        return 2
    out = {}
    for config, with_keywords in (("default rules", False), ("default rules + the event's collection keywords", True)):
        r = evaluate(read_events(args.data, with_keywords))
        out[config] = r
        print(f"== {config}")
        print_figures(r["held_out"], r["lexicon_only"])
        print(f"  constants chosen on all events: weight {r['chosen_on_all'][0]}, threshold {r['chosen_on_all'][1]} "
              f"(shipped: {TYPICALITY_WEIGHT}, {RELATED_AT})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=list))
    return 0


if __name__ == "__main__":
    sys.exit(main())
