"""Reading the text users bring: UTF-8 files, gzipped files, directories of them, and the English
corpus embedded in every Python installation. Every problem names the file (and the byte offset)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = (".txt", ".text", ".md", ".rst")


@dataclass(frozen=True)
class Document:
    name: str
    text: str


def read_text_file(path: Path, errors: str = "strict") -> str:
    """A file's text; `errors="replace"` substitutes U+FFFD for bytes that are not UTF-8."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or directory")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; expected a text file")
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    if not raw.strip():
        raise ValueError(f"{path} is empty: there is no text to read")
    if b"\x00" in raw[:65536]:
        raise ValueError(f"{path} looks like a binary file (it contains NUL bytes); expected UTF-8 text")
    try:
        return raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not valid UTF-8 at byte offset {err.start} ({raw[err.start:err.start + 4]!r}); "
            f"convert the file to UTF-8, or pass --encoding-errors replace to substitute those bytes"
        ) from err


def _text_files(directory: Path) -> list[Path]:
    files = []
    for path in sorted(directory.rglob("*")):
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(directory).parts):
            if name.endswith(TEXT_SUFFIXES):
                files.append(path)
    return files


def read_documents(paths: list[str | Path], errors: str = "strict") -> list[Document]:
    """Documents from files and directories (their *.txt, *.text, *.md, *.rst files, gzipped or not)."""
    if not paths:
        raise ValueError("no input files were given")
    documents = []
    for path in map(Path, paths):
        if path.is_dir():
            files = _text_files(path)
            if not files:
                raise ValueError(f"{path} holds no text files (expected files ending in {', '.join(TEXT_SUFFIXES)}, or .gz of them)")
            documents += [Document(str(f), read_text_file(f, errors)) for f in files]
        else:
            documents.append(Document(str(path), read_text_file(path, errors)))
    return documents


def embedded_corpus() -> Document:
    """The English reference text shipped with Python (pydoc_data: the language reference topics
    that `help()` shows), about 465,000 characters, topics in alphabetical order."""
    try:
        from pydoc_data.topics import topics
    except ImportError as err:
        raise ValueError("this Python has no pydoc_data module for the embedded corpus; pass --data FILE") from err
    return Document("pydoc_data.topics", "\n\n".join(topics[key].strip() for key in sorted(topics)) + "\n")
