"""Answer-quality evaluation: Animam (through the real HTTP server) next to bm25s + PyStemmer.

For each set (main, fresh2 and typos = Debian Reference; heldout, fresh and fresh3 = Debian FAQ) the
English and French entries go into ONE tenant, as a bilingual site would load them. A question
counts as a hit when the entry it expects, in the question's language, is the first source
(hit@1) or among the first three (hit@3). An answer with no sources is a decline. "hit@1,
judged" also counts a first source that questions/judged.tsv records as judged, blind, to answer
the question as well (near-duplicate sections); out/<set>-unjudged.jsonl lists the cited entries
nobody judged yet. Nothing here talks to anything but 127.0.0.1.

usage: evaluate.py --binary PATH [--set main|heldout|fresh|fresh2|fresh3|typos|all] [--out results.md]
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import extract  # noqa: E402

SETS = {
    "main": ("reference", "Debian Reference (debian-reference-en/-fr)", "questions/main.tsv"),
    "heldout": ("faq", "Debian FAQ (debian-faq, debian-faq-fr), no value tuned on it", "questions/heldout.tsv"),
    "fresh": ("faq", "Debian FAQ, fresh questions written after the engine (two rules found on them)",
              "questions/fresh.tsv"),
    "fresh2": ("reference", "Debian Reference, a second question set written blind in session 22",
               "questions/fresh2.tsv"),
    "fresh3": ("faq", "Debian FAQ, a third question set written blind in session 23", "questions/fresh3.tsv"),
}
LANGS = ("en", "fr")
# Sets derived from another set's questions, each question passed through misspell():
# name -> (the set, title).
DERIVED = {
    "typos": ("main", "the main set's questions, each with one typo in its longest word (derived)"),
}

QWERTY_NEIGHBOURS = {
    "a": "qsz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo",
    "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "wa", "r": "et",
    "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "xa",
}


def misspell(text):
    """`text` with one typo in its longest word of 5 letters or more, as a hurried visitor
    makes them: a letter dropped, two swapped, one doubled or one replaced by a neighbour on
    the keyboard, never the first letter. Deterministic (the question's CRC chooses)."""
    words = [m for m in re.finditer(r"[^\W\d_]{5,}", text)]
    if not words:
        return text
    word = max(words, key=lambda m: len(m.group()))
    w = word.group()
    seed = zlib.crc32(text.encode("utf-8"))
    i = 1 + seed % (len(w) - 2)
    op = (seed >> 8) % 4
    if op == 0:
        typo = w[:i] + w[i + 1:]
    elif op == 1:
        typo = w[:i] + w[i + 1] + w[i] + w[i + 2:]
    elif op == 2:
        typo = w[:i] + w[i] + w[i:]
    else:
        near = QWERTY_NEIGHBOURS.get(w[i].lower(), "")
        typo = w[:i] + (near[seed % len(near)] if near else "") + w[i + 1:]
    return text[:word.start()] + typo + text[word.end():]


def load_entries(corpus):
    entries = []
    for lang in LANGS:
        out = subprocess.run(
            [sys.executable, str(HERE / "extract.py"), corpus, lang],
            check=True, capture_output=True, text=True,
        ).stdout
        for line in out.splitlines():
            entry = json.loads(line)
            entry["lang"] = lang
            entries.append(entry)
    return entries


def load_questions(path):
    questions = []
    for line in (HERE / path).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, lang, text = line.split("\t", 2)
        questions.append({"key": None if key == "-" else key, "lang": lang, "q": text.strip()})
    return questions


def load_judged(name):
    """(lang, question) -> {entry key: verdict} of questions/judged.tsv for this set."""
    judged = {}
    for line in (HERE / "questions/judged.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        which, lang, key, verdict, text = line.split("\t", 4)
        if which == name:
            judged.setdefault((lang, text.strip()), {})[key] = verdict
    return judged


def http(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


class Server:
    def __init__(self, binary):
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="animam-quality-"))
        self.config = self.dir / "empty.toml"
        self.config.write_text("")
        self.env = dict(
            os.environ,
            ANIMAM_RATE_LIMIT_PER_MINUTE="0",
            ANIMAM_CHAT_RATE_LIMIT_PER_IP_PER_MINUTE="0",
            ANIMAM_CHAT_RATE_LIMIT_PER_TENANT_PER_MINUTE="0",
            RUST_LOG="warn,animam::app=info,animam::chat::relevance=debug",
        )
        self.env.pop("ANIMAM_CONFIG", None)

    def __enter__(self):
        data = str(self.dir / "data")
        common = ["--data-dir", data, "--config", str(self.config)]
        self.token = subprocess.run(
            [self.binary, "bootstrap", "--tenant", "bench", *common],
            check=True, capture_output=True, text=True, env=self.env,
        ).stdout.strip()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", "127.0.0.1:0", *common],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=self.env,
        )
        deadline = time.time() + 30
        self.base = None
        while time.time() < deadline and self.base is None:
            line = self.proc.stderr.readline()
            if not line:
                break
            found = re.search(r"listening on (http://[\d.:]+)", line)
            if found:
                self.base = found.group(1)
        if not self.base:
            raise SystemExit("animam did not report its address")
        # Keep draining the log so the server never blocks on a full pipe; the relevance of
        # each question's best entry is kept for calibration (docs/quality.md).
        self.relevance = []
        def drain():
            for line in self.proc.stderr:
                found = re.search(r"relevance: best ([\d.]+) threshold [\d.]+ information ([\d.]+) .*?features ?(.*)", line)
                if found:
                    self.relevance.append((float(found.group(1)), found.group(3).split(), float(found.group(2))))
        threading.Thread(target=drain, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def candidate_features(logged, by_id):
    """`entry/passage/title/score/similarity/id` from the relevance log: coverages, BM25 score,
    similarity in meaning, entry."""
    entry, passage, title, score, similarity, entry_id = logged.split("/", 5)
    key, lang = by_id.get(entry_id, ("?", "?"))
    return [float(entry), float(passage), float(title), float(score), key, lang, float(similarity)]


def run_ours(binary, entries, questions):
    by_id = {}
    results = []
    with Server(binary) as server:
        for entry in entries:
            created = http("POST", f"{server.base}/tenants/bench/corpus",
                           {"title": entry["title"], "content": entry["content"]}, server.token)
            by_id[created["id"]] = (entry["key"], entry["lang"])
        for i, question in enumerate(questions):
            started = time.perf_counter()
            answer = http("POST", f"{server.base}/chat/bench",
                          {"message": question["q"], "sessionId": f"q{i}", "stream": False})
            elapsed = time.perf_counter() - started
            ranked = [by_id.get(s["id"], ("?", "?")) for s in answer.get("sources", [])]
            time.sleep(0.002)
            best, features, information = server.relevance[-1] if server.relevance else (None, [], 0.0)
            server.relevance.clear()
            results.append({"ranked": ranked, "ms": elapsed * 1000, "text": answer.get("message", ""),
                            "relevance": best, "information": information,
                            "features": [candidate_features(f, by_id) for f in features]})
    return results


def run_bm25s(entries, questions, venv_python):
    """bm25s runs in the virtualenv: one index per stemmer (the question's language)."""
    payload = {"docs": [f"{e['title']}\n{e['content']}" for e in entries],
               "questions": [{"q": q["q"], "lang": q["lang"]} for q in questions]}
    script = r"""
import json, sys, time
import bm25s, Stemmer
data = json.load(sys.stdin)
indexes = {}
for lang, name, stop in (("en", "english", "en"), ("fr", "french", "fr")):
    stemmer = Stemmer.Stemmer(name)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(data["docs"], stopwords=stop, stemmer=stemmer, show_progress=False), show_progress=False)
    indexes[lang] = (retriever, stemmer, stop)
out = []
for q in data["questions"]:
    retriever, stemmer, stop = indexes[q["lang"]]
    started = time.perf_counter()
    tokens = bm25s.tokenize([q["q"]], stopwords=stop, stemmer=stemmer, show_progress=False)
    docs, scores = retriever.retrieve(tokens, k=3, show_progress=False)
    elapsed = time.perf_counter() - started
    ranked = [int(d) for d, s in zip(docs[0], scores[0]) if s > 0]
    out.append({"ranked": ranked, "ms": elapsed * 1000})
json.dump(out, sys.stdout)
"""
    proc = subprocess.run([venv_python, "-c", script], input=json.dumps(payload),
                          capture_output=True, text=True, check=True)
    results = json.loads(proc.stdout)
    for r in results:
        r["ranked"] = [(entries[i]["key"], entries[i]["lang"]) for i in r["ranked"]]
    return results


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def first_source(q, r, judged):
    """How the first source of an in-domain answer stands: "expected", "answers" (judged to
    answer it as well), "unjudged", another verdict, or None for a decline."""
    if not r["ranked"]:
        return None
    key, lang = r["ranked"][0]
    if lang != q["lang"]:
        return "other language"
    if key == q["key"]:
        return "expected"
    return judged.get((q["lang"], q["q"]), {}).get(key, "unjudged")


def metrics(questions, results, lang, judged):
    inside = [(q, r) for q, r in zip(questions, results) if q["lang"] == lang and q["key"]]
    outside = [(q, r) for q, r in zip(questions, results) if q["lang"] == lang and not q["key"]]
    wanted = lambda q: (q["key"], q["lang"])  # noqa: E731
    firsts = [first_source(q, r, judged) for q, r in inside]
    # (count, out of): shares are printed with their counts, so 96/113 does not read as 0.85.
    return {
        "n": len(inside),
        "off_n": len(outside),
        "hit1": (sum(bool(r["ranked"]) and r["ranked"][0] == wanted(q) for q, r in inside), len(inside)),
        "hit1_judged": (sum(f in ("expected", "answers") for f in firsts), len(inside)),
        "unjudged": sum(f == "unjudged" for f in firsts),
        "hit3": (sum(wanted(q) in r["ranked"][:3] for q, r in inside), len(inside)),
        "declined": (sum(not r["ranked"] for _, r in inside), len(inside)),
        "off_declined": (sum(not r["ranked"] for _, r in outside), len(outside)),
        "p50": percentile([r["ms"] for _, r in inside + outside], 50),
        "p99": percentile([r["ms"] for _, r in inside + outside], 99),
    }


def table(title, questions, ours, theirs, judged):
    m = {(who, lang): metrics(questions, res, lang, judged)
         for who, res in (("ours", ours), ("bm25s", theirs)) for lang in LANGS}
    rows = [
        ("hit@1", "hit1", True),
        ("hit@1, judged (expected, or judged to answer as well)", "hit1_judged", True),
        ("hit@3", "hit3", True),
        ("in-domain wrongly declined", "declined", False),
        ("off-topic declined (no sources)", "off_declined", False),
    ]
    lines = [f"### {title}", "",
             f"{m[('ours', 'en')]['n']} English and {m[('ours', 'fr')]['n']} French in-domain questions, "
             f"{m[('ours', 'en')]['off_n']} + {m[('ours', 'fr')]['off_n']} off-topic.", "",
             "| | ours EN | bm25s EN | ours FR | bm25s FR |", "|---|---|---|---|---|"]
    def share(counted):
        count, out_of = counted
        return f"{count / max(1, out_of):.2f} ({count}/{out_of})"

    for label, key, both in rows:
        cells = []
        for lang in LANGS:
            cells.append(share(m[("ours", lang)][key]))
            cells.append(share(m[("bm25s", lang)][key]) if both else ("0.00 (never declines)" if key == "off_declined" else "n/a"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| latency p50 / p99 (ms) | " + " | ".join(
        f"{m[(who, lang)]['p50']:.1f} / {m[(who, lang)]['p99']:.1f}" for lang in LANGS for who in ("ours", "bm25s")) + " |")
    lines.append("")
    lines.append("Ours: HTTP round trip of POST /chat through the release server; bm25s: in-process retrieve().")
    unjudged = ", ".join(f"{who} {lang.upper()} {m[(who, lang)]['unjudged']}" for who in ("ours", "bm25s") for lang in LANGS)
    lines.append(f"First sources never judged (counted as misses by the judged hit@1): {unjudged}.")
    return "\n".join(lines) + "\n"


def dump_failures(path, questions, ours, judged):
    with open(path, "w", encoding="utf-8") as f:
        for q, r in zip(questions, ours):
            wanted = (q["key"], q["lang"]) if q["key"] else None
            ok = (r["ranked"][:1] == [wanted]) if wanted else not r["ranked"]
            if not ok:
                first = first_source(q, r, judged) if wanted else None
                f.write(f"{q['lang']} {q['q']!r} relevance={r.get('relevance')}\n  want {wanted}\n"
                        f"  got  {r['ranked']}" + (f" (first source: {first})" if first else "") +
                        f"\n  text {r['text'][:300]!r}\n")


def dump_comparison(path, questions, ours, theirs):
    """In-domain questions where exactly one engine ranks the expected entry first."""
    with open(path, "w", encoding="utf-8") as f:
        for q, r, b in zip(questions, ours, theirs):
            if not q["key"]:
                continue
            wanted = (q["key"], q["lang"])
            mine, bm25 = r["ranked"][:1] == [wanted], b["ranked"][:1] == [wanted]
            if mine != bm25:
                who = "bm25s only" if bm25 else "ours only"
                f.write(f"{who}: {q['lang']} {q['q']!r} want {q['key']}\n  ours  {r['ranked'][:3]}\n  bm25s {b['ranked'][:3]}\n")


def dump_unjudged(path, questions, ours, theirs, judged, entries):
    """The entries either engine now cites in its first three that nobody judged yet, as the
    blind pool to judge next (docs/quality.md, "Judged answers")."""
    by_key = {(e["key"], e["lang"]): e for e in entries}
    with open(path, "w", encoding="utf-8") as f:
        for q, r, b in zip(questions, ours, theirs):
            if not q["key"]:
                continue
            seen = judged.get((q["lang"], q["q"]), {})
            for key, lang in dict.fromkeys(r["ranked"][:3] + b["ranked"][:3]):
                if lang != q["lang"] or key == q["key"] or key in seen:
                    continue
                e = by_key[(key, lang)]
                f.write(json.dumps({"lang": lang, "question": q["q"], "key": key, "title": e["title"],
                                    "content": e["content"][:2000]}, ensure_ascii=False) + "\n")


def calibration(questions, ours):
    """Best-entry relevance of in-domain vs off-topic questions, to place the threshold."""
    inside = sorted(r["relevance"] or 0 for q, r in zip(questions, ours) if q["key"])
    outside = sorted(r["relevance"] or 0 for q, r in zip(questions, ours) if not q["key"])
    lines = ["threshold  in-domain kept  off-topic declined"]
    for t in [x / 100 for x in range(20, 80, 4)]:
        kept = sum(v >= t for v in inside) / max(1, len(inside))
        declined = sum(v < t for v in outside) / max(1, len(outside))
        lines.append(f"{t:.2f}       {kept:.2f}           {declined:.2f}")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--set", default="all", choices=[*SETS, *DERIVED, "all"])
    parser.add_argument("--out")
    parser.add_argument("--venv-python", default=str(HERE / ".venv/bin/python"))
    args = parser.parse_args()
    names = [*SETS, *DERIVED] if args.set == "all" else [args.set]
    report = []
    (HERE / "out").mkdir(exist_ok=True)
    for name in names:
        if name in DERIVED:
            base, title = DERIVED[name]
            corpus, _, qfile = SETS[base]
            questions = [dict(q, q=misspell(q["q"])) for q in load_questions(qfile)]
        else:
            corpus, title, qfile = SETS[name]
            questions = load_questions(qfile)
        entries = load_entries(corpus)
        judged = load_judged(name)
        ours = run_ours(args.binary, entries, questions)
        theirs = run_bm25s(entries, questions, args.venv_python)
        dump_failures(HERE / "out" / f"{name}-misses.txt", questions, ours, judged)
        dump_comparison(HERE / "out" / f"{name}-compare.txt", questions, ours, theirs)
        dump_unjudged(HERE / "out" / f"{name}-unjudged.jsonl", questions, ours, theirs, judged, entries)
        (HERE / "out" / f"{name}-calibration.txt").write_text(calibration(questions, ours) + "\n")
        with open(HERE / "out" / f"{name}-features.jsonl", "w") as f:
            for q, r in zip(questions, ours):
                f.write(json.dumps({"q": q, "information": r["information"], "features": r["features"],
                                    "hit": bool(q["key"]) and r["ranked"][:1] == [(q["key"], q["lang"])]}) + "\n")
        counts = {lang: sum(e["lang"] == lang for e in entries) for lang in LANGS}
        section = table(f"{name}: {title}, {counts['en']} EN + {counts['fr']} FR entries in one tenant",
                        questions, ours, theirs, judged)
        print(section, flush=True)
        report.append(section)
    if args.out:
        Path(args.out).write_text("\n".join(report), encoding="utf-8")


if __name__ == "__main__":
    main()
