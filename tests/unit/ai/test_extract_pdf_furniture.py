"""PDF page furniture: running headers/footers and page numbers go, the body text stays.

The PDFs are generated with fpdf2: its header()/footer() hooks draw on every page, as a word
processor or LaTeX does.
"""

from __future__ import annotations

from collections.abc import Callable

from fpdf import FPDF

from smartcourse.ai.extract import ExtractedDocument, extract

BODY = [
    "Transactions group statements into one unit of work.",
    "Isolation levels decide what concurrent transactions can see.",
    "Indexes speed up lookups at the cost of slower writes.",
    "Vacuum reclaims the space of dead row versions.",
    "The planner chooses between sequential and index scans.",
    "Foreign keys keep references between tables consistent.",
    "Views name a query so that it can be reused.",
    "Triggers run a function when rows change.",
]


def make_pdf(
    bodies: list[list[str]],
    header: Callable[[int], str | None] = lambda page: None,
    footer: Callable[[int], str | None] = lambda page: None,
) -> bytes:
    class Document(FPDF):
        def header(self) -> None:
            text = header(self.page_no())
            if text:
                self.set_font("Helvetica", size=8)
                self.cell(0, 6, text, align="C")
                self.ln(12)

        def footer(self) -> None:
            text = footer(self.page_no())
            if text:
                self.set_y(-15)
                self.set_font("Helvetica", size=8)
                self.cell(0, 6, text, align="C")

    pdf = Document()
    for lines in bodies:
        pdf.add_page()
        pdf.set_font("Helvetica", size=11)
        for line in lines:
            pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def pages(doc: ExtractedDocument) -> dict[int, list[str]]:
    return {s.location["page"]: s.text.split("\n") for s in doc.sections}


def body(page: int) -> list[str]:
    """A page's text: a heading line numbered like the page (content, not furniture), then body
    lines that differ from page to page."""
    return [f"Exercise {page}", *(BODY[(page + k) % len(BODY)] for k in (0, 3, 5))]


def test_running_header_and_page_x_of_y_footer_are_removed() -> None:
    data = make_pdf(
        [body(n) for n in range(1, 7)],
        header=lambda page: "Databases 101 - Lecture notes",
        footer=lambda page: f"Page {page} of 6",
    )
    doc = extract(data, "notes.pdf")

    assert pages(doc) == {n: body(n) for n in range(1, 7)}  # "Exercise n" heads every page: kept


def test_numbered_running_header_and_bare_page_numbers_are_removed() -> None:
    # Front matter numbered i, ii; then "- 1 -", "- 2 -", ...; the header carries the page number.
    def footer(page: int) -> str:
        return ["i", "ii"][page - 1] if page <= 2 else f"- {page - 2} -"

    bodies = [body(n) for n in range(1, 8)]
    bodies[4] = [*bodies[4], "The answer to the last question is", "42"]
    data = make_pdf(bodies, header=lambda page: f"Databases 101 | Chapter 2 | {page}", footer=footer)
    doc = extract(data, "book.pdf")

    result = pages(doc)
    assert result == {n: bodies[n - 1] for n in range(1, 8)}
    assert result[5][-1] == "42"  # a number that does not follow the pages is content


def test_chapter_headers_on_fewer_than_half_of_the_pages_are_removed_when_they_follow_the_pages() -> None:
    # texinfo/LaTeX style: "Chapter 2: Parsing 7" on the pages of chapter 2 only.
    def header(page: int) -> str | None:
        return f"Chapter 2: Parsing {page}" if 3 <= page <= 5 else None

    data = make_pdf([body(n) for n in range(1, 11)], header=header)
    doc = extract(data, "manual.pdf")

    assert pages(doc) == {n: body(n) for n in range(1, 11)}


def test_repeated_lines_need_half_of_the_pages_and_at_least_three() -> None:
    # Two pages: a repeated first line is not enough evidence of a running header.
    bodies = [["Summary", *BODY[:3]], ["Summary", *BODY[3:6]]]
    doc = extract(make_pdf(bodies), "two.pdf")
    assert pages(doc) == {1: bodies[0], 2: bodies[1]}

    # A line on the top of only 3 of 10 pages, whose digits do not follow the pages, stays.
    bodies = [[*(["Lecture 3 recap"] if n in (2, 5, 9) else []), *body(n)] for n in range(1, 11)]
    doc = extract(make_pdf(bodies), "ten.pdf")
    assert pages(doc) == {n: bodies[n - 1] for n in range(1, 11)}


def test_page_that_is_only_furniture_is_dropped() -> None:
    bodies = [body(1), [], body(3), body(4)]
    data = make_pdf(bodies, header=lambda page: "Course pack - Spring term", footer=lambda page: str(page))
    doc = extract(data, "pack.pdf")

    assert pages(doc) == {1: body(1), 3: body(3), 4: body(4)}
