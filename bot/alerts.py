"""Alert rules over tracked frames: low class mood, a participant negative for long, a participant
turned away from the screen (head pose, `bot.attention`; never for looking down), a participant
off camera or gone, falling engagement. Defaults live in `bot/alerts.toml`; a user TOML file
overrides any key. Each rule has a duration ("for N minutes") and a cooldown."""

from __future__ import annotations

import tomllib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.mood import negativity_of, valence_of
from bot.records import FrameResult, present
from model import EMOTIONS

DEFAULTS_FILE = Path(__file__).with_name("alerts.toml")


class AlertConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Alert:
    rule: str
    message: str
    time_s: float
    participant: str | None = None
    value: float | None = None  # what the rule measured (the class's valence, the share on camera, P(negative))


def span(minutes: float) -> str:
    """A rule's duration in words: "30 seconds", "1 minute", "5 minutes", "1.5 minutes"."""
    if minutes < 1:
        secs = round(minutes * 60)
        return f"{secs} second" + ("" if secs == 1 else "s")
    return f"{minutes:g} minute" + ("" if minutes == 1 else "s")


def who(pid: str | None) -> str:
    """A participant as a teacher reads them: their name, or for a tile whose name was not read
    ("tile-3", "tile-3.1"), "the unnamed participant in tile 4"."""
    import re

    m = re.fullmatch(r"tile-(\d+)(\.\d+)?", str(pid or ""))
    return f"the unnamed participant in tile {int(m.group(1)) + 1}" if m else str(pid)


def load_rules(path: str | Path | None = None) -> dict:
    """Defaults merged with the rules in `path` (unknown rules or keys are an error)."""
    rules = tomllib.loads(DEFAULTS_FILE.read_text())
    if path is None:
        return rules
    p = Path(path)
    try:
        user = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise AlertConfigError(f"{p}: no such alert rules file") from None
    except IsADirectoryError:
        raise AlertConfigError(f"{p}: a folder, not an alert rules file (TOML)") from None
    except OSError as e:
        raise AlertConfigError(f"{p}: cannot read the alert rules ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AlertConfigError(f"{p}: not valid TOML ({e})") from None
    for rule, values in user.items():
        if rule not in rules or not isinstance(values, dict):
            raise AlertConfigError(f"{p}: unknown rule [{rule}]; rules are {', '.join(rules)}")
        for k, v in values.items():
            if k not in rules[rule]:
                raise AlertConfigError(f"{p}: [{rule}] has no key {k!r}; keys are {', '.join(rules[rule])}")
            if type(v) is not type(rules[rule][k]) and not (isinstance(v, (int, float)) and
                                                            isinstance(rules[rule][k], (int, float))):
                raise AlertConfigError(f"{p}: [{rule}] {k} must be a {type(rules[rule][k]).__name__}")
            rules[rule][k] = v
    return rules


class AlertEngine:
    """`update(frame) -> [Alert]` for each tracked `FrameResult`, in time order."""

    def __init__(self, rules: dict | None = None):
        self.rules = rules or load_rules()
        self._since: dict[tuple[str, str | None], float] = {}   # condition true since
        self._last: dict[tuple[str, str | None], float] = {}    # last alert time
        self._window: deque = deque()                            # (t, valences, faces, present)
        self._seen: dict[str, float] = {}                        # participant -> last time on camera

    def update(self, frame: FrameResult) -> list[Alert]:
        t = float(frame.time_s)
        faces = [f for f in frame.participant_faces if f.participant]
        scores = np.array([f.scores for f in faces], dtype=np.float64).reshape(-1, len(EMOTIONS))
        self._window.append((t, valence_of(scores), len(faces), present(frame)))
        alerts: list[Alert] = []

        r = self.rules["class_valence"]
        if r["enabled"]:
            vals = np.concatenate([v for tt, v, _, _ in self._window if tt > t - r["window_s"]])
            mood = float(vals.mean()) if vals.size else None
            alerts += self._check("class_valence", None, mood is not None and mood < r["threshold"], t, r,
                                  f"The class has looked negative for {span(r['minutes'])}: more faces read "
                                  "negative than positive.", value=mood)

        r = self.rules["low_engagement"]
        if r["enabled"]:
            win = [(n, p) for tt, _, n, p in self._window if tt > t - r["window_s"]]
            present_sum = sum(p for _, p in win)
            eng = sum(n for n, _ in win) / present_sum if present_sum else None
            alerts += self._check("low_engagement", None, eng is not None and eng < r["threshold"], t, r,
                                  f"Only {0 if eng is None else eng:.0%} of the class has shown a face for "
                                  f"{span(r['minutes'])}.", value=eng)

        r = self.rules["participant_negative"]
        if r["enabled"]:
            neg = dict(zip((f.participant for f in faces), negativity_of(scores)))
            for pid in set(neg) | {k[1] for k in self._since if k[0] == "participant_negative"}:
                p = neg.get(pid)
                alerts += self._check("participant_negative", pid, p is not None and p > r["threshold"], t, r,
                                      f"{who(pid)} has looked negative for {span(r['minutes'])}.", value=p)

        r = self.rules["participant_turned_away"]
        if r["enabled"]:
            state = {f.participant: f.attention for f in faces}
            for pid in set(state) | {k[1] for k in self._since if k[0] == "participant_turned_away"}:
                # away now; a frame without their face (or without a pose) neither starts nor ends it
                held = state.get(pid) or ("away" if ("participant_turned_away", pid) in self._since else None)
                alerts += self._check("participant_turned_away", pid, held == "away", t, r,
                                      f"{who(pid)} has been turned away from the screen for {span(r['minutes'])}.")

        r = self.rules["participant_absent"]
        if r["enabled"]:
            for f in faces:
                self._seen[f.participant] = t
            for pid in self._seen:
                away = self._seen[pid] < t
                alerts += self._check("participant_absent", pid, away, t, r,
                                      f"{who(pid)} has been off camera or away for {span(r['minutes'])}.",
                                      since=self._seen[pid])
        while self._window and self._window[0][0] <= t - 3600:
            self._window.popleft()
        return alerts

    def _check(self, rule, pid, condition, t, r, message, since=None, value=None) -> list[Alert]:
        key = (rule, pid)
        if not condition:
            self._since.pop(key, None)
            return []
        start = self._since.setdefault(key, t if since is None else since)
        if t - start < r["minutes"] * 60:
            return []
        last = self._last.get(key)
        if last is not None and t - last < r["cooldown_minutes"] * 60:
            return []
        self._last[key] = t
        return [Alert(rule, message, t, pid, value)]
