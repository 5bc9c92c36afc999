"""Labelled text readers: CSV/TSV columns, line formats, bad rows reported by number."""

import pytest

from rnnkit.data.labelled_text import read_labelled_text, read_unlabelled_text


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_named_columns_and_quotes(tmp_path):
    path = _write(tmp_path, "r.csv", 'id,review,stars\n1,"Great, really great",5\n2,Bad,1\n')
    data = read_labelled_text(path, text_column="review", label_column="stars")
    assert data.texts == ["Great, really great", "Bad"] and data.labels == ["5", "1"]


def test_unknown_column_lists_the_columns(tmp_path):
    path = _write(tmp_path, "r.csv", "id,review,stars\n1,Good,5\n")
    with pytest.raises(ValueError, match=r"no column 'text' \(set it with --text-column\); the columns are \['id', 'review', 'stars'\]"):
        read_labelled_text(path)


def test_rows_with_missing_fields_are_reported_or_skipped(tmp_path):
    path = _write(tmp_path, "r.tsv", "text\tlabel\ngood\tpos\n\tneg\nfine\t\n")
    with pytest.raises(ValueError, match=r"2 row\(s\) with missing text or label \(rows 3, 4\).*--skip-bad-rows"):
        read_labelled_text(path)
    assert read_labelled_text(path, skip_bad_rows=True).texts == ["good"]


def test_line_formats(tmp_path):
    sst = read_labelled_text(_write(tmp_path, "sst.train", "1 a fine film .\n0 dull\n"))
    assert sst.labels == ["1", "0"] and sst.texts == ["a fine film .", "dull"]
    uci = read_labelled_text(_write(tmp_path, "uci.txt", "A very slow movie.  \t0\nLoved it\u0085 really.\t1\n"))
    assert uci.labels == ["0", "1"] and uci.texts[1] == "Loved it\u0085 really."
    tab = read_labelled_text(_write(tmp_path, "x.txt", "pos\tgood stuff here\n"), fmt="label-text")
    assert tab.labels == ["pos"] and tab.texts == ["good stuff here"]


def test_unlabelled_text_from_lines_or_a_column(tmp_path):
    assert read_unlabelled_text(None, stdin="one\n\ntwo\n") == ["one", "two"]
    path = _write(tmp_path, "x.csv", "text,other\nhello,1\n")
    assert read_unlabelled_text(path) == ["hello"]
