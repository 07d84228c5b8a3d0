"""Splits installed Debian documentation (HTML) into knowledge-base entries.

One entry per section heading (h2..h5): title = the heading without its number, content = the
section's own text up to the next heading (capped at 50,000 chars, the corpus limit), key = the
heading's anchor id, which the English and French builds share, so one expected key serves both
languages.

usage: extract.py CORPUS LANG  -> JSON lines on stdout
CORPUS: reference (Debian Reference) | faq (Debian FAQ)
"""

import glob
import json
import re
import sys
from html.parser import HTMLParser

MAX_CONTENT = 50_000
MIN_CONTENT = 80
HEADINGS = {"h2", "h3", "h4", "h5"}
BLOCKS = {"p", "li", "div", "pre", "tr", "dt", "dd", "br", "table", "h1", "h6", "blockquote"}
SKIPPED_CLASSES = {"toc", "navheader", "navfooter", "list-of-tables", "list-of-figures"}


class Sections(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.sections = []
        self.current = None
        self.in_heading = None
        self.heading_text = []
        self.heading_key = None
        self.skip_depth = 0
        self.div_stack = []
        self.in_pre = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            classes = set((attrs.get("class") or "").split())
            skipping = bool(classes & SKIPPED_CLASSES)
            self.div_stack.append(skipping)
            if skipping:
                self.skip_depth += 1
        if self.skip_depth:
            return
        if tag in HEADINGS:
            self.in_heading = tag
            self.heading_text = []
            self.heading_key = None
        elif tag == "a" and self.in_heading and attrs.get("id") and not self.heading_key:
            self.heading_key = attrs["id"]
        elif tag in BLOCKS and self.current is not None:
            self.current["parts"].append("\n")
        if tag == "pre":
            self.in_pre += 1

    def handle_endtag(self, tag):
        if tag == "pre" and self.in_pre:
            self.in_pre -= 1
        if tag == "div" and self.div_stack:
            if self.div_stack.pop():
                self.skip_depth -= 1
            return
        if self.skip_depth:
            return
        if tag == self.in_heading:
            title = re.sub(r"\s+", " ", "".join(self.heading_text)).strip()
            title = re.sub(r"^([A-Z]\.)?[\d.]+\s+", "", title)
            self.current = {"key": self.heading_key or title, "title": title, "parts": []}
            self.sections.append(self.current)
            self.in_heading = None
        elif tag in BLOCKS and self.current is not None:
            self.current["parts"].append("\n")

    def handle_data(self, data):
        if self.skip_depth:
            return
        if self.in_heading:
            self.heading_text.append(data)
        elif self.current is not None:
            # HTML source wraps lines inside paragraphs; only <pre> lines are real lines.
            self.current["parts"].append(data if self.in_pre else re.sub(r"\s+", " ", data))


def clean(text):
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    out, blank = [], False
    for line in lines:
        if not line:
            blank = True
            continue
        if blank and out:
            out.append("")
        out.append(line)
        blank = False
    return "\n".join(out)


def files(corpus, lang):
    if corpus == "reference":
        return sorted(glob.glob(f"/usr/share/debian-reference/ch*.{lang}.html")) + sorted(
            glob.glob(f"/usr/share/debian-reference/apa.{lang}.html")
        )
    if corpus == "faq":
        base = "/usr/share/doc/debian/FAQ"
        pattern = f"{base}/*.en.html" if lang == "en" else f"{base}/fr/*.fr.html"
        return [f for f in sorted(glob.glob(pattern)) if not re.search(r"/index\.", f)]
    raise SystemExit(f"unknown corpus {corpus}")


def main():
    corpus, lang = sys.argv[1], sys.argv[2]
    seen = set()
    for path in files(corpus, lang):
        parser = Sections()
        with open(path, encoding="utf-8") as f:
            parser.feed(f.read())
        for section in parser.sections:
            content = clean("".join(section["parts"]))[:MAX_CONTENT]
            if len(content) < MIN_CONTENT or not section["title"] or section["key"] in seen:
                continue
            seen.add(section["key"])
            print(json.dumps({"key": section["key"], "title": section["title"][:200], "content": content}, ensure_ascii=False))


if __name__ == "__main__":
    main()
