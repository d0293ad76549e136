#!/usr/bin/env python3
"""Chooses the attribution weight and threshold from labelled answer sentences.

Reads the lines of `localrag attribution` (one per sentence: its label, the passages and the
[cosine, lexical] signals against each) from files named on the command line, one per embedder,
and for each weight w of the cosine (support = w * cosine + (1 - w) * lexical) and each
threshold t reports how the rule "link the best passage if its support >= t, else unsupported"
does: a supported sentence is right when linked to its labelled passage, an unsupported one when
left unlinked. Prints, per embedder, the best (w, t) and the accuracy at the shipped constants,
and the (w, t) best over all embedders together (worst-case accuracy).

Usage: python3 scripts/attribution-threshold.py [--weight W --threshold T] NAME=FILE ...
"""

import argparse
import json


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def outcome(row, w, t):
    scores = [w * max(c, 0.0) + (1 - w) * l for c, l in row["signals"]]
    best = max(range(len(scores)), key=lambda i: scores[i])
    linked = row["passages"][best] if scores[best] >= t else None
    return linked == row["label"]


def accuracy(rows, w, t):
    sup = [r for r in rows if r["label"]]
    uns = [r for r in rows if not r["label"]]
    a_sup = sum(outcome(r, w, t) for r in sup) / len(sup)
    a_uns = sum(outcome(r, w, t) for r in uns) / len(uns)
    # Balanced accuracy: the two kinds count alike whatever their numbers.
    return (a_sup + a_uns) / 2, a_sup, a_uns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weight", type=float, default=0.2)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("runs", nargs="+")
    args = ap.parse_args()
    runs = {}
    for arg in args.runs:
        name, path = arg.split("=", 1)
        runs[name] = load(path)
    weights = [i / 10 for i in range(11)]
    thresholds = [i / 100 for i in range(101)]
    print("| embedder | sentences | at shipped w=%.2f t=%.2f: balanced / supported / unsupported | best w | best t | best balanced |"
          % (args.weight, args.threshold))
    print("|---|---:|---|---:|---:|---:|")
    for name, rows in runs.items():
        shipped = accuracy(rows, args.weight, args.threshold)
        best = max(((accuracy(rows, w, t)[0], w, t) for w in weights for t in thresholds))
        print(f"| {name} | {len(rows)} | {shipped[0]:.3f} / {shipped[1]:.3f} / {shipped[2]:.3f} | "
              f"{best[1]:.1f} | {best[2]:.2f} | {best[0]:.3f} |")
    worst = max(((min(accuracy(rows, w, t)[0] for rows in runs.values()), w, t)
                 for w in weights for t in thresholds))
    print(f"\nBest over all embedders (worst-case balanced accuracy): w={worst[1]:.1f} t={worst[2]:.2f} "
          f"-> {worst[0]:.3f}")


if __name__ == "__main__":
    main()
