"""Transcripts as users want them: plain text, a JSON record (with word times when decoded with
timestamps), or SubRip (.srt) subtitles whose cues break at pauses and after a few words."""

from __future__ import annotations

import json

from rnnkit.tasks.speech.recognize import Transcript

FORMATS = ("txt", "json", "srt")


def record(transcript: Transcript) -> dict:
    out = {"audio": transcript.audio, "text": transcript.text, "duration": round(transcript.seconds, 3)}
    if transcript.words is not None:
        out["words"] = transcript.words
    return out


def srt_time(seconds: float) -> str:
    """SubRip's HH:MM:SS,mmm."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d},{rest % 1000:03d}"


def cues(transcript: Transcript, max_words: int = 8, max_gap: float = 0.8) -> list[tuple[float, float, str]]:
    """(start, end, text) subtitle cues: a new cue after `max_words` words or a pause longer than
    `max_gap` seconds; without word times, one cue over the whole clip."""
    if not transcript.words:
        return [(0.0, transcript.seconds, transcript.text)] if transcript.text else []
    groups, current = [], [transcript.words[0]]
    for word in transcript.words[1:]:
        if len(current) >= max_words or word["start"] - current[-1]["end"] > max_gap:
            groups.append(current)
            current = []
        current.append(word)
    groups.append(current)
    return [(g[0]["start"], g[-1]["end"], " ".join(w["word"] for w in g)) for g in groups]


def srt(transcript: Transcript) -> str:
    blocks = [f"{i}\n{srt_time(a)} --> {srt_time(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues(transcript), start=1)]
    return "\n".join(blocks)


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "txt":
        return transcript.text + "\n"
    if fmt == "json":
        return json.dumps(record(transcript)) + "\n"
    if fmt == "srt":
        return srt(transcript)
    raise ValueError(f"format must be one of {FORMATS}; got {fmt!r}")
