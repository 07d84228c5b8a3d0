#!/usr/bin/env python3
"""Seed an animam tenant with a deterministic synthetic corpus, and check needle retrieval.

Python 3.11 standard library only.

    BENCH_TOKEN=ak_... seed.py seed --base-url http://127.0.0.1:PORT --tenant bench \
                  --entries 100000 --out-dir DIR
    seed.py csv --entries 100000 --seed 4242 --out FILE
    BENCH_TOKEN=ak_... seed.py import --base-url http://127.0.0.1:PORT --tenant import \
                  --file FILE --out-dir DIR
    seed.py check --base-url http://127.0.0.1:PORT --tenant bench --out-dir DIR

`seed` POSTs N entries to /tenants/{tenant}/corpus (~16 requests in flight, one keep-alive
connection per worker thread) and writes into DIR:
  questions.txt  chat questions for bench/chat.lua, one per line (needle and random-word)
  search.txt     single search words for bench/search.lua, one per line
  needles.json   each needle's entry id, title and question
  seed.json      {"entries", "seconds", "rate", "bytes"}

The text is a pure function of --seed and the entry index: the same N gives the same corpus
whatever the thread timing. ~50,000 distinct words follow a Zipf-like law (s ~ 1.07): a few
hundred real English and French words hold the top ranks, generated pseudo-words the rest.
"Needle" entries (~200) carry a distinctive topic such as "refund policy for product-1234"
and a matching question, so retrieval quality can be checked (`check`) and the chat load mixes
questions that hit with questions that mostly don't.

`seed --via import` sends the same corpus as one CSV body to POST /tenants/{tenant}/corpus/import
instead (then finds the needle ids with searches and collects entry ids from the list pages).
It also writes ids.txt (entry ids, one per line, for bench/get.lua) in both modes.

`csv` writes N entries (same generator; pass another --seed for fresh entries) as CSV with the
header title,content,segment,priority,tags (tags `;`-separated). `import` POSTs such a file to
/tenants/{tenant}/corpus/import, waits until the tenant's corpus total has grown by the file's
row count (bounded by --timeout), and writes import.json {"status", "entries", "seconds",
"rate", "body"}; it exits 2 when the endpoint answers 404 or 405 (not available).

`check` asks every needle question once (POST /chat/{tenant}, stream false) and counts how
often the needle entry is among the answer's sources, and how often it is the first. It
writes check.json and prints a one-line summary last (failed requests are counted there and
the first one is shown on stderr).
"""

from __future__ import annotations

import argparse
import csv
import io
import bisect
import concurrent.futures as cf
import http.client
import itertools
import json
import os
import random
import sys
import threading
import time
import urllib.parse

VOCAB_SIZE = 50_000
ZIPF_S = 1.07
IN_FLIGHT = 16
PROGRESS_EVERY = 5_000
MAX_NEEDLES = 200
RANDOM_QUESTIONS = 200
SEARCH_WORDS = 200

# Function words first: they take the top Zipf ranks, as in real text.
FUNCTION_WORDS = """
the of and to a in is that for it as with was on be by at this are or from
de la le et les des en un une du est que pour dans qui au sur par pas plus
""".split()

ENGLISH = """
account access address answer application available balance bank bill billing book
booking business cancel card cart change charge check checkout city close code company
contact contract cost country coupon credit customer data date day delivery delete
deposit design device discount document download email error event exchange fee file
form free guide help history home hour install invoice issue item key language late
library limit link list login manager market member message method mobile model money
month network number offer office online open order package page password payment plan
policy price privacy problem product profile program purchase quality question rate
receipt refund region register report request reset return review room rule safety
sale schedule screen search security service setting shipping shop size software
standard status store subscription support system team terms ticket time tool track
training transfer travel trial update upgrade user version warranty website week
window work year weather garden river mountain kitchen music school train coffee
""".split()

FRENCH = """
abonnement accueil adresse aide annulation argent article assurance avis banque besoin
billet boutique cadeau carte client colis commande compte conseil contrat courriel
date délai demande document données échange école entreprise envoi équipe espace été
facture famille fichier formulaire frais gratuit heure hiver horaire information jardin
jour journée langue lien livraison logiciel magasin maison message mois montant mot
numéro offre ordinateur paiement panier paramètre passe période politique prix produit
profil question rapide réduction règle remboursement rendez-vous réponse retour réunion
sécurité semaine service site société soutien stockage tarif téléphone temps travail
utilisateur vacances ville voyage bonjour merci toujours aussi après avant très bien
nouveau nouvelle petit grand premier dernier comment pourquoi quand chez sans avec
""".split()

# Needle topics: (title, content lead, question). {n} is a number unique to the needle,
# {w} a pseudo-word code name unique to it.
NEEDLE_TEMPLATES = [
    ("Refund policy for product-{n}",
     "The refund policy for product-{n} ({w} edition) allows a full refund within {d} days "
     "of delivery when the original packaging is kept.",
     "What is the refund policy for product-{n}?"),
    ("Warranty of the {w} model {n}",
     "The {w} model {n} carries a {d}-month warranty covering parts and labour; batteries "
     "are covered for half that time.",
     "How long is the warranty on the {w} model {n}?"),
    ("Shipping to depot {n}",
     "Orders shipped to depot {n} near {w} arrive in {d} working days; express delivery "
     "halves that.",
     "How many days does shipping to depot {n} take?"),
    ("Opening hours of the {w} store",
     "The {w} store (branch {n}) opens at {d} in the morning and closes at seven, "
     "Monday to Saturday.",
     "When does the {w} store open?"),
    ("Politique de remboursement du forfait {w}",
     "Le forfait {w} (référence {n}) est remboursable pendant {d} jours après la "
     "souscription, sans justificatif.",
     "Quelle est la politique de remboursement du forfait {w} ?"),
    ("Délai de livraison pour la commande {n}",
     "La commande {n} ({w}) est livrée en {d} jours ouvrés en France métropolitaine.",
     "Quel est le délai de livraison pour la commande {n} ?"),
    ("Reset the password of a {w} account",
     "To reset the password of a {w} account (plan {n}), open Settings, choose Security and "
     "follow the link sent by email within {d} minutes.",
     "How do I reset the password of my {w} account?"),
    ("Pricing of the {w} subscription",
     "The {w} subscription (tier {n}) costs {d} euros a month, billed yearly, with a "
     "fourteen-day free trial.",
     "How much does the {w} subscription cost?"),
    ("Horaires du support {w}",
     "Le support {w} (ligne {n}) répond de {d} heures à dix-huit heures, du lundi au "
     "vendredi.",
     "Quels sont les horaires du support {w} ?"),
    ("Data retention for module {n}",
     "Module {n} ({w}) keeps conversation logs for {d} days, then deletes them for good.",
     "How long does module {n} keep data?"),
]

SYLLABLES_START = ("b br c ch cl cr d dr f fl fr g gr j k l m n p pl pr qu r s sc sh sl st "
                   "t th tr v w z").split()
SYLLABLES_VOWEL = "a e i o u ou ai ei au ea io ie y".split()
SYLLABLES_END = ("", "", "", "n", "r", "s", "l", "m", "x", "t", "nd", "rt", "ss", "ck", "ng",
                 "st", "que", "ette", "ion", "eur", "ard")


def pseudo_word(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.choice((1, 2, 2, 2, 3))):
        parts.append(rng.choice(SYLLABLES_START) + rng.choice(SYLLABLES_VOWEL))
    return "".join(parts) + rng.choice(SYLLABLES_END)


class Vocabulary:
    """~VOCAB_SIZE distinct words, ranked; sample() draws from a Zipf(s) law over the ranks."""

    def __init__(self, seed: int):
        rng = random.Random(seed)
        real = list(dict.fromkeys(ENGLISH + FRENCH))
        rng.shuffle(real)
        seen = set(FUNCTION_WORDS) | set(real)
        pseudo = []
        while len(FUNCTION_WORDS) + len(real) + len(pseudo) < VOCAB_SIZE:
            w = pseudo_word(rng)
            if w not in seen and len(w) <= 20:
                seen.add(w)
                pseudo.append(w)
        # Real content words are spread over the first ~3,000 ranks among pseudo-words.
        words = list(FUNCTION_WORDS)
        rest = pseudo
        slots = sorted(rng.sample(range(3_000), len(real)))
        merged, ri, pi = [], 0, 0
        for pos in range(len(rest) + len(real)):
            if ri < len(real) and slots[ri] == pos:
                merged.append(real[ri])
                ri += 1
            else:
                merged.append(rest[pi])
                pi += 1
        self.words = words + merged
        self.cum = list(itertools.accumulate(1.0 / (r ** ZIPF_S)
                                             for r in range(1, len(self.words) + 1)))
        self.total = self.cum[-1]

    def sample(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=k)

    def sample_range(self, rng: random.Random, lo: int, hi: int) -> str:
        """One word drawn by Zipf restricted to ranks [lo, hi)."""
        a, b = self.cum[lo - 1] if lo else 0.0, self.cum[hi - 1]
        return self.words[bisect.bisect(self.cum, a + rng.random() * (b - a), lo, hi - 1)]


def sentence(vocab: Vocabulary, rng: random.Random) -> str:
    words = vocab.sample(rng, rng.randint(7, 17))
    words[0] = words[0].capitalize()
    return " ".join(words) + rng.choice(".........?!")


def filler(vocab: Vocabulary, rng: random.Random, target: int) -> str:
    out, size = [], 0
    while size < target:
        s = sentence(vocab, rng)
        out.append(s)
        size += len(s.encode()) + 1
    return " ".join(out)


def needle_positions(n_entries: int) -> dict[int, int]:
    """entry index -> needle number, spread evenly through the corpus."""
    count = min(MAX_NEEDLES, max(1, n_entries // 10))
    return {(k * n_entries) // count + (n_entries // count) // 2: k for k in range(count)}


def needle(vocab: Vocabulary, k: int, seed: int) -> tuple[dict, str]:
    rng = random.Random(f"needle-{seed}-{k}")
    title_t, lead_t, question_t = NEEDLE_TEMPLATES[k % len(NEEDLE_TEMPLATES)]
    n = 1000 + k * 37
    w = "".join(rng.choice(SYLLABLES_START) + rng.choice(SYLLABLES_VOWEL) for _ in range(3))
    w = f"{w}{k}" if w in vocab.words else w  # keep the code name distinctive
    fields = {"n": n, "w": w.capitalize(), "d": rng.randint(3, 60)}
    lead = lead_t.format(**fields)
    content = lead + " " + filler(vocab, rng, rng.randint(700, 1100) - len(lead))
    tags = ["faq", rng.choice(["support", "billing", "shipping", "produit", "compte"])]
    body = {"title": title_t.format(**fields), "content": content, "tags": tags}
    return body, question_t.format(**fields)


def entry(vocab: Vocabulary, tag_words: list[str], tag_cum: list[float], index: int,
          seed: int) -> dict:
    rng = random.Random(seed * 1_000_003 + index)
    title_words = vocab.sample(rng, rng.randint(3, 8))
    title = " ".join(title_words).capitalize()[:200]
    content = filler(vocab, rng, rng.randint(950, 1250))[:50_000]
    tags = list(dict.fromkeys(rng.choices(tag_words, cum_weights=tag_cum, k=rng.randint(1, 4))))
    return {"title": title, "content": content, "tags": tags}



class Client:
    """One keep-alive HTTP/1.1 connection per thread."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0):
        u = urllib.parse.urlsplit(base_url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            sys.exit(f"refusing non-loopback base URL {base_url}")
        self.host, self.port, self.timeout = u.hostname, u.port or 80, timeout
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.local = threading.local()

    def post(self, path: str, body: dict) -> tuple[int, bytes]:
        return self.request("POST", path, json.dumps(body, ensure_ascii=False).encode())

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def request(self, method: str, path: str, data: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, bytes]:
        headers = dict(self.headers, **{"Content-Type": content_type})
        for attempt in (1, 2):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.local.conn = conn
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # Server closed an idle keep-alive connection before our request reached it.
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


CSV_HEADER = ["title", "content", "segment", "priority", "tags"]


def csv_row(body: dict) -> list:
    return [body["title"], body["content"], body.get("segment") or "",
            body.get("priority", 5), ";".join(body.get("tags", []))]


def corpus_total(client: Client, tenant: str) -> int:
    status, raw = client.get(f"/tenants/{urllib.parse.quote(tenant)}/corpus?limit=1")
    if status != 200:
        raise RuntimeError(f"GET corpus?limit=1: HTTP {status}: {raw[:300]!r}")
    return int(json.loads(raw)["pagination"]["total"])


def import_body(client: Client, tenant: str, data: bytes, rows: int,
                timeout: float) -> dict:
    """POSTs a CSV body to the import endpoint and waits until the corpus holds `rows` more
    entries (an import that answers before it is done is timed to its end)."""
    path = f"/tenants/{urllib.parse.quote(tenant)}/corpus/import"
    before = corpus_total(client, tenant)
    t0 = time.monotonic()
    status, raw = client.request("POST", path, data, "text/csv")
    answered = time.monotonic() - t0
    result = {"status": status, "entries": rows, "bytes": len(data),
              "answered_seconds": round(answered, 3),
              "body": raw[:400].decode(errors="replace")}
    if 200 <= status < 300:
        deadline = t0 + timeout
        while (got := corpus_total(client, tenant) - before) < rows:
            if time.monotonic() > deadline:
                result["error"] = f"only {got}/{rows} entries after {timeout:.0f} s"
                break
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        result["imported"] = got
        result["seconds"] = round(seconds, 3)
        result["rate"] = round(got / seconds, 1)
    return result


def corpus_bodies(n: int, seed: int):
    """(vocabulary, needle index -> (body, question), iterator of (i, body))."""
    vocab = Vocabulary(seed)
    trng = random.Random(seed + 7)
    tag_words = list(dict.fromkeys(vocab.words[30:3000:7]))[:300]
    trng.shuffle(tag_words)
    tag_cum = list(itertools.accumulate(1.0 / r for r in range(1, len(tag_words) + 1)))
    needles_at = needle_positions(n)
    needle_bodies = {k: needle(vocab, k, seed) for k in needles_at.values()}

    def bodies():
        for i in range(n):
            k = needles_at.get(i)
            yield i, (needle_bodies[k][0] if k is not None
                      else entry(vocab, tag_words, tag_cum, i, seed))

    return vocab, needles_at, needle_bodies, bodies


def write_csv(f, bodies) -> tuple[int, int]:
    """Writes the CSV; returns (rows, content bytes)."""
    w = csv.writer(f, lineterminator="\n")
    w.writerow(CSV_HEADER)
    rows = content = 0
    for _, body in bodies:
        w.writerow(csv_row(body))
        rows += 1
        content += len(body["content"].encode())
    return rows, content


def csv_cmd(args: argparse.Namespace) -> int:
    _, _, _, bodies = corpus_bodies(args.entries, args.seed)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        rows, _ = write_csv(f, bodies())
    print(f"wrote {rows} entries to {args.out} ({os.path.getsize(args.out) / 2**20:.1f} MiB)",
          flush=True)
    return 0


def import_cmd(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as f:
        data = f.read()
    rows = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8"), newline=""))) - 1
    client = Client(args.base_url, args.token, timeout=args.timeout)
    result = import_body(client, args.tenant, data, rows, args.timeout)
    with open(f"{args.out_dir}/import.json", "w", encoding="utf-8") as f:
        json.dump(result, f)
    if result["status"] in (404, 405):
        print(f"import: not available ({result['status']})", flush=True)
        return 2
    if not 200 <= result["status"] < 300 or "error" in result:
        print(f"import failed: HTTP {result['status']}: {result.get('error') or result['body']}",
              file=sys.stderr, flush=True)
        return 1
    print(f"imported {result['imported']} entries in {result['seconds']:.2f}s: "
          f"{result['rate']:.0f} entries/s (answered after {result['answered_seconds']:.2f}s)",
          flush=True)
    return 0


def seed_cmd(args: argparse.Namespace) -> int:
    t_gen = time.monotonic()
    n = args.entries
    vocab, needles_at, needle_bodies, bodies = corpus_bodies(n, args.seed)
    print(f"vocabulary: {len(vocab.words)} words ({time.monotonic() - t_gen:.1f}s)", flush=True)
    in_flight = args.in_flight
    all_ids: list[str] = []
    client = Client(args.base_url, args.token,
                    timeout=args.import_timeout if args.via == "import" else 30.0)
    path = f"/tenants/{urllib.parse.quote(args.tenant)}/corpus"
    import_seconds = None
    needle_ids: dict[int, str] = {}
    done = 0
    sent_bytes = 0
    failure: list[str] = []
    lock = threading.Lock()

    def post(i: int, body: dict) -> None:
        nonlocal done
        status, raw = client.post(path, body)
        if status != 201:
            with lock:
                failure.append(f"entry {i}: HTTP {status}: {raw[:500].decode(errors='replace')}")
            return
        k = needles_at.get(i)
        new_id = json.loads(raw)["id"]
        if k is not None:
            needle_ids[k] = new_id
        with lock:
            all_ids.append(new_id)
            done += 1
            if done % PROGRESS_EVERY == 0 or done == n:
                el = time.monotonic() - t0
                print(f"  seeded {done:>7}/{n}  {el:7.1f}s  {done / el:8.1f} entries/s", flush=True)

    t0 = time.monotonic()
    pending: set[cf.Future] = set()
    if args.via == "import":
        buf = io.StringIO()
        _, sent_bytes = write_csv(buf, bodies())
        data = buf.getvalue().encode()
        print(f"importing {n} entries as one CSV body ({len(data) / 2**20:.1f} MiB)", flush=True)
        t0 = time.monotonic()
        result = import_body(client, args.tenant, data, n, args.import_timeout)
        if not 200 <= result["status"] < 300 or "error" in result:
            failure.append(f"import: HTTP {result['status']}: "
                           f"{result.get('error') or result['body']}")
        else:
            import_seconds = result["seconds"]
            found = resolve_ids(client, args.tenant, needle_bodies, n, needle_ids, all_ids)
            print(f"  resolved {found}/{len(needle_bodies)} needle ids by title search", flush=True)
    with cf.ThreadPoolExecutor(max_workers=in_flight) as pool:
        for i, body in (bodies() if args.via == "api" else ()):
            # generated lazily: at most 2 x in_flight bodies queued
            if failure:
                break
            sent_bytes += len(body["content"].encode())
            pending.add(pool.submit(post, i, body))
            if len(pending) >= in_flight * 2:
                finished, pending = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
                for f in finished:
                    f.result()
        for f in cf.as_completed(pending):
            f.result()
    seconds = import_seconds or (time.monotonic() - t0)
    if failure:
        print("seed failed: " + failure[0], file=sys.stderr)
        for extra in failure[1:5]:
            print("  also " + extra, file=sys.stderr)
        return 1

    rate = n / seconds
    print(f"seeded {n} entries via {args.via} ({sent_bytes / n:.0f} content bytes each on average, "
          f"{len(needles_at)} needles) in {seconds:.1f}s: {rate:.1f} entries/s", flush=True)

    # Question mix for the chat load: needle questions interleaved with random-word ones.
    qrng = random.Random(args.seed + 11)
    needles = []
    for k in sorted(needle_bodies):
        body, question = needle_bodies[k]
        if k not in needle_ids:
            continue  # import seeding: title not found by search
        needles.append({"id": needle_ids[k], "title": body["title"], "question": question})
    randoms = []
    for _ in range(RANDOM_QUESTIONS):
        ws = [vocab.sample_range(qrng, 60, 20_000) for _ in range(qrng.randint(2, 4))]
        form = qrng.choice(["How does {} work?", "What about {}?", "Tell me about {}.",
                            "Comment fonctionne {} ?", "Où trouver {} ?", "{}?"])
        randoms.append(form.format(" ".join(ws)))
    questions = [q for pair in itertools.zip_longest([x["question"] for x in needles], randoms)
                 for q in pair if q]
    words = [vocab.sample_range(qrng, 40, 5_000) for _ in range(SEARCH_WORDS)]

    out = args.out_dir
    with open(f"{out}/questions.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(q.replace("\n", " ") for q in questions) + "\n")
    with open(f"{out}/search.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(words) + "\n")
    with open(f"{out}/ids.txt", "w", encoding="utf-8") as f:
        f.write("\n".join(all_ids) + "\n")
    with open(f"{out}/needles.json", "w", encoding="utf-8") as f:
        json.dump(needles, f, ensure_ascii=False, indent=1)
    with open(f"{out}/seed.json", "w", encoding="utf-8") as f:
        json.dump({"entries": n, "seconds": round(seconds, 2), "rate": round(rate, 1),
                   "bytes": sent_bytes, "needles": len(needles), "via": args.via,
                   "in_flight": in_flight if args.via == "api" else 1}, f)
    return 0


def resolve_ids(client: Client, tenant: str, needle_bodies: dict, n: int,
                needle_ids: dict, all_ids: list) -> int:
    """After an import: needle ids by searching each needle's title, and up to 20,000 entry
    ids from the first list pages (for bench/get.lua)."""
    base = f"/tenants/{urllib.parse.quote(tenant)}/corpus"
    for k, (body, _) in needle_bodies.items():
        q = urllib.parse.quote(body["title"])
        status, raw = client.get(f"{base}?search={q}&limit=20")
        if status == 200:
            for e in json.loads(raw)["corpus"]:
                if e["title"] == body["title"] and e["content"] == body["content"]:
                    needle_ids[k] = e["id"]
                    break
    for page in range(1, min(n, 20_000) // 100 + 2):
        status, raw = client.get(f"{base}?page={page}&limit=100")
        got = json.loads(raw)["corpus"] if status == 200 else []
        all_ids.extend(e["id"] for e in got)
        if len(got) < 100:
            break
    return len(needle_ids)


def check_cmd(args: argparse.Namespace) -> int:
    with open(f"{args.out_dir}/needles.json", encoding="utf-8") as f:
        needles = json.load(f)
    client = Client(args.base_url, None)
    path = f"/chat/{urllib.parse.quote(args.tenant)}"

    def ask(k: int, nd: dict) -> tuple[bool, bool, str | None]:
        status, raw = client.post(path, {"message": nd["question"],
                                         "sessionId": f"needle-check-{k}", "stream": False})
        if status != 200:
            return False, False, f"HTTP {status}: {raw[:300].decode(errors='replace')}"
        ids = [s["id"] for s in json.loads(raw).get("sources", [])]
        return nd["id"] in ids, bool(ids) and ids[0] == nd["id"], None

    with cf.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda a: ask(*a), enumerate(needles)))
    errors = [e for _, _, e in results if e]
    found = sum(r[0] for r in results)
    first = sum(r[1] for r in results)
    if errors:
        print(f"needle check: first failed request: {errors[0]}", file=sys.stderr)
    with open(f"{args.out_dir}/check.json", "w", encoding="utf-8") as f:
        json.dump({"needles": len(needles), "found": found, "first": first,
                   "errors": len(errors)}, f)
    # Last line: the summary bench/run.sh puts in its report.
    print(f"needle check: {found}/{len(needles)} needle entries among the chat sources, "
          f"{first}/{len(needles)} ranked first" + (f"; {len(errors)} requests failed" if errors else ""),
          flush=True)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("seed", "check", "csv", "import"):
        s = sub.add_parser(name)
        s.add_argument("--seed", type=int, default=42)
        if name != "csv":
            s.add_argument("--base-url", required=True)
            s.add_argument("--tenant", default="bench")
            s.add_argument("--out-dir", required=True)
        if name in ("seed", "import"):
            s.add_argument("--token", default=os.environ.get("BENCH_TOKEN"),
                           help="API token with corpus:write [env: BENCH_TOKEN]")
        if name in ("seed", "csv"):
            s.add_argument("--entries", type=int, default=100_000)
        if name == "seed":
            s.add_argument("--in-flight", type=int, default=IN_FLIGHT,
                           help="requests in flight when seeding through the API")
            s.add_argument("--via", choices=("api", "import"), default="api")
            s.add_argument("--import-timeout", type=float, default=1800.0)
        if name == "csv":
            s.add_argument("--out", required=True)
        if name == "import":
            s.add_argument("--file", required=True)
            s.add_argument("--timeout", type=float, default=1800.0)
    args = p.parse_args()
    if args.cmd in ("seed", "import") and not args.token:
        p.error("no token: pass --token or set BENCH_TOKEN")
    if getattr(args, "entries", 1) < 1:
        p.error("--entries must be at least 1")
    if getattr(args, "in_flight", 1) < 1:
        p.error("--in-flight must be at least 1")
    return {"seed": seed_cmd, "check": check_cmd, "csv": csv_cmd, "import": import_cmd}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
