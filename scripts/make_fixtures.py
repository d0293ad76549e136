#!/usr/bin/env python3
"""Makes the document fixtures of the loader tests (issue 16): PDFs and a DOCX written here
with fpdf2 and python-docx (PyPI, versions pinned by the Makefile), never downloaded.

    python3 scripts/make_fixtures.py OUT_DIR

Writes into OUT_DIR:
  manual.pdf      4 pages: a running header and footer on every page, numbered headings,
                  a word hyphenated across a line end, known passages on known pages;
  two-column.pdf  one page of two columns whose lines are written alternately (left, right,
                  left, ...), so that content order is not reading order;
  scanned.pdf     one page that is only a picture of text (no text layer);
  mixed-scan.pdf  three pages, the second a picture only;
  encrypted.pdf   needs a user password;
  long.pdf        300 pages, one section each, for the benchmark;
  chinese.pdf     Chinese and mixed-script text (WenQuanYi Micro Hei, Debian fonts-wqy-microhei);
  report.docx     headings, paragraphs, a bulleted and a numbered list, a table;
  outline.pdf     3 pages whose headings are bold in the body's size, with an outline
                  (bookmarks) that names them, one without the number the page prints;
  expect.json     for each fixture the passages a test looks for, with their page and heading path.
"""

import json
import sys
from pathlib import Path

from docx import Document
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"

# The manual: (level, heading, paragraphs) in order; a paragraph is a list of lines (the script
# decides the line breaks, so that one word is hyphenated across a line end).
MANUAL = [
    (1, "1 Installation", [[
        "This manual explains how to install, configure and run the Harbour widget server.",
        "Read the whole chapter before you start.",
    ]]),
    (2, "1.1 Linux", [[
        "Run the installer with the --prefix flag to choose the target directory.",
        "The installer needs about 40 megabytes of free space.",
    ]]),
    (2, "1.2 Windows", [[
        "On Windows the installer registers the widget service with the service control",
        "manager and starts it automatically after every reboot.",
    ]]),
    (1, "2 Configuration", [[
        "All settings live in one file called harbour.toml next to the server binary.",
    ]]),
    (2, "2.1 Network", [[
        "The server listens on port 7300 by default; change the listen key to move it. The",
        "firewall must allow incoming connections on that port, and the configu-",
        "ration is read again when the server receives the reload signal.",
    ]]),
    (2, "2.2 Storage", [[
        "Widgets are kept in a directory named vault, compressed with zstd at level 9.",
    ]]),
    (1, "3 Troubleshooting", [[
        "If the server refuses to start, look for the word EADDRINUSE in the log file:",
        "another program already holds port 7300.",
    ]]),
]
# Where each section starts a new page (the others follow on the same page).
NEW_PAGE_BEFORE = {"1.2 Windows", "2 Configuration", "3 Troubleshooting"}
HEADER = "Harbour Widget Server - Administrator Manual"


class Manual(FPDF):
    def header(self):
        self.set_font("dejavu", size=8)
        self.cell(0, 6, HEADER, align="C")
        self.ln(12)

    def footer(self):
        self.set_y(-15)
        self.set_font("dejavu", size=8)
        self.cell(0, 10, f"Page {self.page_no()}", align="C")


def new_pdf(cls=FPDF):
    pdf = cls(format="A4")
    pdf.add_font("dejavu", fname=DEJAVU)
    pdf.set_auto_page_break(False)
    return pdf


def manual(out: Path, expect: dict):
    pdf = new_pdf(Manual)
    pdf.add_page()
    path = []
    passages = []
    for level, heading, paragraphs in MANUAL:
        if heading in NEW_PAGE_BEFORE:
            pdf.add_page()
        path = path[: level - 1] + [heading]
        pdf.set_font("dejavu", size=16 if level == 1 else 13)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("dejavu", size=11)
        for lines in paragraphs:
            for line in lines:
                pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
            passages.append({"text": " ".join(lines).replace("configu- ration", "configuration"),
                             "page": pdf.page_no(), "headingPath": list(path)})
    pdf.output(out / "manual.pdf")
    expect["manual.pdf"] = {
        "pages": pdf.page_no(),
        "header": HEADER,
        "passages": passages,
        "hyphenated": "configuration",
    }


LEFT = [
    "The left column begins the story of the lighthouse keeper.",
    "Every evening she climbed the ninety steps with a lantern.",
    "The copper lamp burned whale oil until the year 1912.",
    "Ships passing the reef counted on its steady white flash.",
]
RIGHT = [
    "The right column continues with the storm of 1921.",
    "Waves broke over the gallery and put the light out twice.",
    "She relit the wick by hand and kept it burning till dawn.",
    "The harbour master wrote her name in the station log.",
]


def two_column(out: Path, expect: dict):
    pdf = new_pdf()
    pdf.add_page()
    pdf.set_font("dejavu", size=8)
    y = 30
    # Alternate columns line by line: the content stream interleaves them.
    for left, right in zip(LEFT, RIGHT):
        assert pdf.get_string_width(left) < 88 and pdf.get_string_width(right) < 88
        pdf.set_xy(15, y)
        pdf.cell(88, 4, left)
        pdf.set_xy(110, y)
        pdf.cell(88, 4, right)
        y += 4
    pdf.output(out / "two-column.pdf")
    expect["two-column.pdf"] = {"left": " ".join(LEFT), "right": " ".join(RIGHT)}


def picture_of_text(lines, size=(1240, 1754)) -> Image.Image:
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(DEJAVU, 36)
    for i, line in enumerate(lines):
        draw.text((120, 200 + i * 60), line, fill=0, font=font)
    return img


def scanned(out: Path, expect: dict):
    pdf = new_pdf()
    pdf.add_page()
    pdf.image(picture_of_text(["This page was scanned.", "It has no text layer."]), x=0, y=0, w=210, h=297)
    pdf.output(out / "scanned.pdf")
    mixed = new_pdf()
    mixed.set_font("dejavu", size=11)
    for page in range(3):
        mixed.add_page()
        if page == 1:
            mixed.image(picture_of_text(["A scanned receipt."]), x=0, y=0, w=210, h=297)
        else:
            mixed.set_xy(20, 30)
            mixed.cell(0, 8, f"Typed page {page + 1} talks about the granite quarry.")
    mixed.output(out / "mixed-scan.pdf")
    expect["scanned.pdf"] = {"error": "E_UNSUPPORTED"}
    expect["mixed-scan.pdf"] = {"pages": 3, "pagesWithoutText": [2]}


def encrypted(out: Path, expect: dict):
    pdf = new_pdf()
    pdf.set_encryption(owner_password="owner-secret", user_password="user-secret")
    pdf.add_page()
    pdf.set_font("dejavu", size=11)
    pdf.set_xy(20, 30)
    pdf.cell(0, 8, "The vault combination is 12-34-56.")
    pdf.output(out / "encrypted.pdf")
    expect["encrypted.pdf"] = {"error": "E_UNSUPPORTED"}


WORDS = ("river harbour lantern copper meadow glacier orchard violin compass granite falcon "
         "thunder saffron canyon ember willow quartz beacon tundra marble cedar comet").split()


def long_pdf(out: Path, expect: dict, pages=300):
    pdf = new_pdf()
    pdf.set_font("dejavu", size=10)
    for p in range(1, pages + 1):
        pdf.add_page()
        pdf.set_xy(15, 20)
        pdf.set_font("dejavu", size=14)
        pdf.cell(0, 9, f"Section {p}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("dejavu", size=10)
        for line in range(40):
            words = [WORDS[(p * 7 + line * 3 + k) % len(WORDS)] for k in range(12)]
            pdf.cell(0, 6, f"Page {p} line {line}: " + " ".join(words) + ".", new_x="LMARGIN", new_y="NEXT")
    pdf.output(out / "long.pdf")
    expect["long.pdf"] = {"pages": pages, "passages": [
        {"text": f"Page {p} line 5:", "page": p} for p in (1, 150, 300)
    ]}


CHINESE = [
    "长城是中国古代的军事防御工程，全长超过两万公里。",
    "Mixed script: the Great Wall (长城) is visible from low orbit only with a lens.",
    "日本語とEnglishが混ざった文でも、順序は保たれます。",
]


def chinese(out: Path, expect: dict):
    pdf = new_pdf()
    pdf.add_font("wqy", fname=CJK_FONT, collection_font_number=0)
    pdf.add_page()
    pdf.set_font("wqy", size=14)
    pdf.set_xy(15, 20)
    pdf.cell(0, 10, "第一章 长城", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("wqy", size=11)
    for line in CHINESE:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(out / "chinese.pdf")
    expect["chinese.pdf"] = {"lines": CHINESE}


def report_docx(out: Path, expect: dict):
    doc = Document()
    doc.add_heading("Quarterly Report", level=1)
    doc.add_paragraph("Revenue grew by twelve percent over the previous quarter.")
    doc.add_heading("Risks", level=2)
    doc.add_paragraph("Supply of copper wire remains uncertain.", style="List Bullet")
    doc.add_paragraph("Two suppliers closed their Lisbon plants.", style="List Bullet")
    doc.add_heading("Next steps", level=2)
    doc.add_paragraph("Sign the new contract with the Porto mill.", style="List Number")
    doc.add_paragraph("Audit the warehouse in March.", style="List Number")
    table = doc.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Region", "Sales"), ("North", "1200"), ("South", "950")]):
        table.rows[r].cells[0].text = a
        table.rows[r].cells[1].text = b
    doc.save(out / "report.docx")
    expect["report.docx"] = {"passages": [
        {"text": "Revenue grew by twelve percent", "headingPath": ["Quarterly Report"]},
        {"text": "Two suppliers closed their Lisbon plants.", "headingPath": ["Quarterly Report", "Risks"]},
        {"text": "Audit the warehouse in March.", "headingPath": ["Quarterly Report", "Next steps"]},
        {"text": "North", "headingPath": ["Quarterly Report", "Next steps"]},
    ]}


# A paper whose headings are set in the body's size, only bold, so that type size cannot find
# them; its outline (bookmarks) can. (outline title, level, printed heading, paragraphs, new page)
PAPER_TITLE = "Tidal Energy at Small Harbours"
PAPER = [
    ("1 Introduction", 1, "1 Introduction", [
        "Small harbours see two tides a day and rarely use them.",
        "This paper asks what a single turbine in a harbour mouth could supply.",
    ], False),
    ("2 Method", 1, "2 Method", [
        "We measured currents at three harbours over one lunar month.",
    ], False),
    ("2.1 Site survey", 2, "2.1 Site survey", [
        "Divers mapped the harbour floor of Porthleven with a sounding line.",
        "The strongest current ran along the western breakwater at two knots.",
    ], False),
    ("2.2 Choosing a turbine", 2, "2.2 Choosing a turbine", [
        "A ducted rotor of four metres suited the shallow mouth best.",
    ], True),
    # The outline leaves out the number the page prints: the heading reads "3 Results".
    ("Results", 1, "3 Results", [
        "The turbine would have supplied forty homes through the winter months.",
        "Slack water twice a day calls for a battery of one day's storage.",
    ], True),
]


def paper(out: Path, expect: dict):
    pdf = new_pdf()
    pdf.add_font("dejavu", style="B", fname=DEJAVU.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_xy(15, 20)
    pdf.set_font("dejavu", size=16)
    pdf.cell(0, 10, PAPER_TITLE, new_x="LMARGIN", new_y="NEXT")
    path = []
    passages = []
    for title, level, printed, lines, new_page in PAPER:
        if new_page:
            pdf.add_page()
            pdf.set_xy(15, 20)
        path = path[: level - 1] + [printed]
        pdf.ln(4)
        pdf.start_section(title, level=level - 1)
        pdf.set_font("dejavu", style="B", size=11)
        pdf.cell(0, 7, printed, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("dejavu", size=11)
        for line in lines:
            pdf.cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
            passages.append({"text": line, "page": pdf.page_no(), "headingPath": list(path)})
    pdf.output(out / "outline.pdf")
    expect["outline.pdf"] = {
        "title": PAPER_TITLE,
        "headings": [[level, printed] for _, level, printed, *_ in PAPER],
        "passages": passages,
    }


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    expect = {}
    for make in (manual, two_column, scanned, encrypted, long_pdf, chinese, report_docx, paper):
        make(out, expect)
    (out / "expect.json").write_text(json.dumps(expect, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
