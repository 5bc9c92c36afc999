"""Labelled text for classification: CSV/TSV with named columns, or the line formats public
sentiment sets use: `label<TAB>text`, `label text` (SST) and `text<TAB>label` (UCI sentences).

Rows with missing text or label are errors naming the row, unless `skip_bad_rows` is set.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data.text import read_text_file

FORMATS = ("auto", "csv", "tsv", "label-text", "text-label")


@dataclass
class LabelledText:
    texts: list[str]
    labels: list[str]
    source: str


def read_labelled_text(path: Path | str, fmt: str = "auto", text_column: str = "text", label_column: str = "label",
                       skip_bad_rows: bool = False, encoding_errors: str = "strict", stdin: str | None = None) -> LabelledText:
    """Read (text, label) rows. With `stdin` given (the text read from '-'), rows come from it."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}; got {fmt!r}")
    content = stdin if stdin is not None else read_text_file(Path(path), encoding_errors)
    name = "<stdin>" if stdin is not None else str(path)
    fmt = _detect(name, content, fmt, text_column, label_column)
    if fmt in ("csv", "tsv"):
        rows = _table_rows(name, content, "," if fmt == "csv" else "\t", text_column, label_column)
    else:
        rows = _line_rows(content, fmt)
    texts, labels, bad = [], [], []
    for number, text, label in rows:
        if not (text or "").strip() or not (label or "").strip():
            bad.append(number)
            continue
        texts.append(text.strip())
        labels.append(label.strip())
    if bad:
        where = f"{name}: {len(bad)} row(s) with missing text or label (rows {', '.join(map(str, bad[:10]))}{', ...' if len(bad) > 10 else ''})"
        if not skip_bad_rows:
            raise ValueError(where + "; fix them, or pass --skip-bad-rows to leave them out")
        print(f"rnnkit: skipped {where}", file=sys.stderr)
    if not texts:
        raise ValueError(f"{name} holds no labelled rows")
    return LabelledText(texts, labels, name)


def read_unlabelled_text(path: Path | str, stdin: str | None = None, fmt: str = "auto", text_column: str = "text",
                         encoding_errors: str = "strict") -> list[str]:
    """Texts to classify: one per line, or the text column of a CSV/TSV."""
    content = stdin if stdin is not None else read_text_file(Path(path), encoding_errors)
    name = "<stdin>" if stdin is not None else str(path)
    if fmt in ("csv", "tsv") or (fmt == "auto" and name.endswith((".csv", ".tsv"))):
        delimiter = "\t" if (fmt == "tsv" or name.endswith(".tsv")) else ","
        reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
        if text_column not in (reader.fieldnames or []):
            raise ValueError(f"{name}: no column {text_column!r}; the columns are {reader.fieldnames}")
        return [row[text_column] or "" for row in reader]
    return [line for line in content.splitlines() if line.strip()]


def _detect(name: str, content: str, fmt: str, text_column: str, label_column: str) -> str:
    if fmt != "auto":
        return fmt
    if name.endswith(".csv"):
        return "csv"
    first = content.split("\n", 1)[0]
    if name.endswith(".tsv") or (text_column in first.split("\t") and label_column in first.split("\t")):
        return "tsv"
    if "\t" in first:
        head, tail = first.split("\t", 1)[0], first.rsplit("\t", 1)[-1]
        return "text-label" if len(tail.split()) == 1 and len(head.split()) > 1 else "label-text"
    return "label-text"


def _table_rows(name, content, delimiter, text_column, label_column):
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    columns = reader.fieldnames or []
    for wanted, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if wanted not in columns:
            raise ValueError(f"{name}: no column {wanted!r} (set it with {flag}); the columns are {columns}")
    return [(number, row.get(text_column), row.get(label_column)) for number, row in enumerate(reader, start=2)]


def _line_rows(content: str, fmt: str):
    rows = []
    for number, line in enumerate(content.split("\n"), start=1):  # "\n" only: texts may hold U+0085
        if not line.strip():
            continue
        if fmt == "text-label":
            text, _, label = line.rpartition("\t")
        elif "\t" in line:
            label, _, text = line.partition("\t")
        else:
            label, _, text = line.strip().partition(" ")
        rows.append((number, text, label))
    return rows
