"""`rnnkit report`: one self-contained HTML page (parses, links nowhere, inlines every figure as a PNG,
escapes what comes from data), written at the end of every train and compare."""

import base64
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from rnnkit.cli import main
from rnnkit.tasks.report import render, write_report

HOSTILE = "<script>alert(1)</script>"


class Page(HTMLParser):
    """The tags, attributes, ids and text of a page; fails on tags closed out of order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, text: str):
        super().__init__()
        self.open, self.attributes, self.ids, self.images, self.text, self.tags = [], [], set(), [], [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        self.attributes.extend(attrs.items())
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "img":
            self.images.append(attrs)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_self_contained(text: str) -> Page:
    page = Page(text)
    assert page.open == [], f"unclosed tags: {page.open}"
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    for name, value in page.attributes:
        if name in ("src", "href"):
            assert not value.lower().startswith(("http:", "https:", "//", "file:")), value
            assert value.startswith(("data:image/png;base64,", "#")), value
    for image in page.images:
        data = base64.b64decode(image["src"].split(",", 1)[1], validate=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
        assert image.get("alt")
    return page


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("report") / "lm"
    assert main(["lm", "train", "--preset", "tiny", "--max-steps", "30", "--eval-every", "15", "--no-progress",
                 "--device", "cpu", "--out", str(run)]) == 0
    return run


def test_every_train_writes_a_self_contained_report_with_its_figures(lm_run, capsys):
    path = lm_run / "report.html"
    assert path.is_file()
    text = path.read_text(encoding="utf-8")
    page = check_self_contained(text)
    assert {"run-0"} <= page.ids
    captions = {image["alt"] for image in page.images}
    assert {"training and validation loss", "learning rate, gradient norm and throughput"} <= captions
    body = "".join(page.text)
    for expected in ("Results", "bits_per_char", "uniform model (baseline)", "Sample", "Configuration", "Checkpoints",
                     "best/model.safetensors", "LanguageModel (lstm)"):
        assert expected in body, expected
    assert len(text) < 2_000_000


def test_report_escapes_labels_and_names_that_come_from_data(tmp_path, capsys):
    train = tmp_path / "train.tsv"
    train.write_text("text\tlabel\n" + f"good film\t{HOSTILE}\nbad film\tneg & <b>\n" * 12, encoding="utf-8")
    run = tmp_path / HOSTILE.replace("/", "_")  # the run's own name, shown as its heading
    assert main(["classify", "train", "--data", str(train), "--out", str(run), "--epochs", "2", "--no-progress",
                 "--device", "cpu"]) == 0
    text = (run / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(text)  # no <script> tag survived
    body = "".join(page.text)
    assert HOSTILE in body and "neg & <b>" in body  # shown as text ...
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;" in text  # ... because it was escaped
    assert "b" not in [tag for tag in page.tags if tag == "b"]


def test_report_of_several_runs_tables_them_and_of_a_compare_directory_shows_the_comparison(lm_run, tmp_path, capsys):
    second = tmp_path / "gru"
    assert main(["lm", "train", "--preset", "tiny", "--cell", "gru", "--max-steps", "20", "--no-progress", "--device", "cpu",
                 "--out", str(second)]) == 0
    both = write_report([lm_run, second], tmp_path / "both.html", sample_tokens=0)
    page = check_self_contained(both.read_text(encoding="utf-8"))
    assert {"runs", "run-0", "run-1"} <= page.ids
    assert "Sample" not in "".join(page.text)

    out = tmp_path / "cmp"
    assert main(["compare", "lm", "--models", "lstm,transformer", "--max-steps", "12", "--params", "30000", "--out", str(out),
                 "--", "--no-progress", "--eval-every", "6"]) == 0
    text = (out / "report.html").read_text(encoding="utf-8")
    page = check_self_contained(text)
    assert {"comparison", "run-0", "run-1"} <= page.ids
    body = "".join(page.text)
    assert "val bits/char" in body and "generate ms/token" in body and "transformer" in body
    assert {"vs time", "vs params"} <= {image["alt"] for image in page.images}
    assert json.loads((out / "compare.json").read_text())["models"].keys() == {"lstm", "transformer"}


def test_report_refuses_what_is_not_a_run(tmp_path, lm_run):
    with pytest.raises(ValueError, match="neither a run directory"):
        render([tmp_path])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        render([tmp_path / "missing"])
    assert main(["report", str(tmp_path)]) == 1
    assert main(["report", str(lm_run), "-o", str(tmp_path / "again.html"), "--sample-tokens", "0"]) == 0
    check_self_contained((tmp_path / "again.html").read_text(encoding="utf-8"))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("chrome-headless-shell")


@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (Debian: apt install chromium)")
def test_report_renders_in_headless_chromium_to_a_page_that_is_not_blank(lm_run, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,2000",
                    f"--screenshot={shot}", (lm_run / "report.html").resolve().as_uri()], check=True, timeout=120,
                   capture_output=True)
    image = Image.open(shot).convert("L")
    low, high = image.getextrema()
    assert high - low > 100  # text and plots on the page, not a blank or error screen
    histogram = image.histogram()
    assert sum(histogram[:128]) > 0.005 * image.width * image.height  # enough dark pixels to be content
