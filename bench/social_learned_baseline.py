"""What a model fitted on the labelled tweets reaches, per held-out event: the comparison behind the
decision to ship no such model (README "Social signal").

    python bench/social_learned_baseline.py [--data ../shared/data/social/sample] [--json OUT]

A logistic regression over hashed word unigrams and bigrams (2^18 buckets; URLs, @mentions and
numbers as tokens; balanced classes), fitted with numpy for each event on the *other* events of the same
set (CrisisLexT26 for (a) and (b), CrisisLexT6 for (c)), its threshold chosen on those same other
events. Nothing is written into the project: the
model exists only while this script runs. Prints (a), (b), (c) as bench/social_eval.py does, so
the two can be read side by side.
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from social_eval import arguments, figures, labelled_events, macro_f1, print_figures, same_event  # noqa: E402

from emergency.progress import Progress  # noqa: E402
from feeds.social.text import MENTION, URL, fold  # noqa: E402

BITS = 18
_WORD = re.compile(r"\w+")


def features(text: str) -> np.ndarray:
    """Sorted distinct bucket indices of the text's words and word pairs."""
    t = MENTION.sub(" zzmention ", URL.sub(" zzurl ", fold(text)))
    ws = ["zznum" if w.isdigit() else w for w in _WORD.findall(t)]
    grams = ws + [f"{a} {b}" for a, b in zip(ws, ws[1:])]
    return np.unique(np.fromiter((zlib.crc32(g.encode()) & ((1 << BITS) - 1) for g in grams), np.int64))


class Matrix:
    """Rows of binary hashed features (compressed sparse rows)."""

    def __init__(self, rows: list[np.ndarray]) -> None:
        self.n = len(rows)
        counts = np.array([len(r) for r in rows], np.int64)
        self.cols = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        self.row_of = np.repeat(np.arange(self.n), counts)

    def dot(self, w: np.ndarray) -> np.ndarray:
        return np.bincount(self.row_of, weights=w[self.cols], minlength=self.n)

    def t_dot(self, g: np.ndarray) -> np.ndarray:
        return np.bincount(self.cols, weights=g[self.row_of], minlength=1 << BITS)


def fit(x: Matrix, y: np.ndarray, *, iters: int = 150, lr: float = 0.1, l2: float = 1e-5) -> tuple[np.ndarray, float]:
    """Balanced logistic regression by full-batch Adam; returns (weights, bias)."""
    w, b = np.zeros(1 << BITS), 0.0
    m, v, mb, vb = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-6), 0.5 / max(1 - y.mean(), 1e-6)) / len(y)
    for it in range(1, iters + 1):
        g = (1 / (1 + np.exp(-(x.dot(w) + b))) - y) * weight
        gw, gb = x.t_dot(g) + l2 * w, g.sum()
        m, v = 0.9 * m + 0.1 * gw, 0.999 * v + 0.001 * gw * gw
        mb, vb = 0.9 * mb + 0.1 * gb, 0.999 * vb + 0.001 * gb * gb
        w -= lr * (m / (1 - 0.9 ** it)) / (np.sqrt(v / (1 - 0.999 ** it)) + 1e-8)
        b -= lr * (mb / (1 - 0.9 ** it)) / (np.sqrt(vb / (1 - 0.999 ** it)) + 1e-8)
    return w, b


def main() -> int:
    args = arguments(__doc__, "social_learned_baseline")
    if args is None:
        return 2
    events = labelled_events(args.data)
    feats = {name: [features(text) for _, text, _ in rows] for name, _, rows, _ in events}

    def related_label(dataset: str, label: str) -> bool | None:
        if dataset == "t6":
            return label == "on-topic"
        return None if label == "Not applicable" else label.startswith("Related")

    def train(train_events: list, label_of) -> tuple[np.ndarray, float, float]:
        xs, ys, spans = [], [], []
        for name, dataset, rows, _ in train_events:
            start = len(xs)
            for f, (_, _, label) in zip(feats[name], rows):
                y = label_of(dataset, label)
                if y is not None:
                    xs.append(f)
                    ys.append(float(y))
            spans.append((start, len(xs)))
        y = np.array(ys)
        x = Matrix(xs)
        w, b = fit(x, y)
        z = x.dot(w) + b
        threshold = max(np.linspace(-2, 2, 41), key=lambda t: np.mean(
            [macro_f1(list(y[s:e] > 0.5), list(z[s:e] > t)) for s, e in spans if e > s]))
        return w, b, threshold

    held_out: dict[str, dict[str, float]] = {}
    with Progress("fitting per held-out event", len(events)) as progress:
        for i, (name, dataset, rows, _) in enumerate(events):
            others = [e for e in events if e[1] == dataset and not same_event(e[0], name)]
            x = Matrix(feats[name])
            w, b, t = train(others, related_label)
            related = list(x.dot(w) + b > t)
            informative = related
            if dataset == "t26":
                w2, b2, t2 = train(others, lambda _d, label: label == "Related and informative")
                informative = list(x.dot(w2) + b2 > t2)
            for key, value in figures(dataset, [r[2] for r in rows], related, informative).items():
                held_out.setdefault(key, {})[name] = value
            progress.update(i + 1)
    print("== hashed word uni+bigram logistic regression, fitted per event on the other events")
    print_figures(held_out)
    if args.json:
        args.json.write_text(json.dumps(held_out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
