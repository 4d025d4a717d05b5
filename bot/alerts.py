"""Alert rules over tracked frames: low class mood, a participant negative for long, a participant
turned away from the screen (head pose, `bot.attention`; never for looking down), a participant
off camera or gone, falling engagement. Defaults live in `bot/alerts.toml`; a user TOML file
overrides any key. Each rule has a duration ("for N minutes") and a cooldown.

`AlertRules` holds one small class a rule (`ClassValence`, `LowEngagement`, `ParticipantNegative`,
`ParticipantTurnedAway`, `ParticipantAbsent`), read from the TOML: the file is the one home of the
defaults, the classes say what each rule watches."""

from __future__ import annotations

import tomllib
from collections import deque
from dataclasses import dataclass, fields
from typing import ClassVar
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


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise AlertConfigError(f"{path}: no such alert rules file") from None
    except IsADirectoryError:
        raise AlertConfigError(f"{path}: a folder, not an alert rules file (TOML)") from None
    except OSError as e:
        raise AlertConfigError(f"{path}: cannot read the alert rules ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise AlertConfigError(f"{path}: not valid TOML ({e})") from None


@dataclass
class Rule:
    """What every rule has: whether it runs, how long its condition must hold (`minutes`) and the
    least time between two of its alerts for one participant or the class (`cooldown_minutes`)."""
    name: ClassVar[str]
    enabled: bool
    minutes: float
    cooldown_minutes: float

    def fire(self, engine: "AlertEngine", now: "_Now") -> list[Alert]:
        raise NotImplementedError


@dataclass
class _Now:
    """One frame as the rules read it."""
    t: float
    faces: list            # the participants' faces on camera (with a participant id)
    scores: np.ndarray     # their scores, (n, 7)


@dataclass
class ClassRule(Rule):
    """A rule over the whole class's last `window_s` seconds, against a `threshold`."""
    threshold: float
    window_s: float

    def recent(self, engine: "AlertEngine", now: _Now) -> list[tuple]:
        """The engine's (t, valences, faces, present) entries of the window ending now."""
        return [w for w in engine.window if w[0] > now.t - self.window_s]


@dataclass
class ClassValence(ClassRule):
    """The class's valence over the last `window_s` stays below `threshold`: its mood is negative."""
    name: ClassVar[str] = "class_valence"

    def fire(self, engine, now):
        vals = np.concatenate([v for _, v, _, _ in self.recent(engine, now)])
        mood = float(vals.mean()) if vals.size else None
        return engine.check(self, None, mood is not None and mood < self.threshold, now.t,
                            f"The class has looked negative for {span(self.minutes)}: more faces read "
                            "negative than positive.", value=mood)


@dataclass
class LowEngagement(ClassRule):
    """Faces visible / participants present, over the last `window_s`, stays below `threshold`."""
    name: ClassVar[str] = "low_engagement"

    def fire(self, engine, now):
        win = [(n, p) for _, _, n, p in self.recent(engine, now)]
        present_sum = sum(p for _, p in win)
        eng = sum(n for n, _ in win) / present_sum if present_sum else None
        return engine.check(self, None, eng is not None and eng < self.threshold, now.t,
                            f"Only {0 if eng is None else eng:.0%} of the class has shown a face for "
                            f"{span(self.minutes)}.", value=eng)


@dataclass
class ParticipantNegative(Rule):
    """A participant's smoothed P(angry + disgust + fear + sad) stays above `threshold`."""
    name: ClassVar[str] = "participant_negative"
    threshold: float

    def fire(self, engine, now):
        neg = dict(zip((f.participant for f in now.faces), negativity_of(now.scores)))
        out = []
        for pid in set(neg) | engine.holding(self):
            p = neg.get(pid)
            out += engine.check(self, pid, p is not None and p > self.threshold, now.t,
                                f"{who(pid)} has looked negative for {span(self.minutes)}.", value=p)
        return out


@dataclass
class ParticipantTurnedAway(Rule):
    """A participant's face stays turned away from the screen (never for looking down); a frame
    without their face (or without a pose) neither starts nor ends it."""
    name: ClassVar[str] = "participant_turned_away"

    def fire(self, engine, now):
        state = {f.participant: f.attention for f in now.faces}
        out = []
        for pid in set(state) | engine.holding(self):
            held = state.get(pid) or ("away" if engine.holds(self, pid) else None)
            out += engine.check(self, pid, held == "away", now.t,
                                f"{who(pid)} has been turned away from the screen for {span(self.minutes)}.")
        return out


@dataclass
class ParticipantAbsent(Rule):
    """A participant seen earlier is off camera or gone from the gallery."""
    name: ClassVar[str] = "participant_absent"

    def fire(self, engine, now):
        for f in now.faces:
            engine.seen[f.participant] = now.t
        out = []
        for pid, last in engine.seen.items():
            out += engine.check(self, pid, last < now.t, now.t,
                                f"{who(pid)} has been off camera or away for {span(self.minutes)}.", since=last)
        return out


@dataclass
class AlertRules:
    """The rules, in the order they are checked on each frame (their alerts come out in it)."""
    class_valence: ClassValence
    low_engagement: LowEngagement
    participant_negative: ParticipantNegative
    participant_turned_away: ParticipantTurnedAway
    participant_absent: ParticipantAbsent

    def __iter__(self):
        return (getattr(self, f.name) for f in fields(self))

    def class_only(self) -> "AlertRules":
        """These rules with every participant's rule turned off: an aggregate-only session raises
        the class's alerts alone (no alert names anyone)."""
        import dataclasses

        return dataclasses.replace(self, **{f.name: dataclasses.replace(getattr(self, f.name), enabled=False)
                                            for f in fields(self) if not isinstance(getattr(self, f.name), ClassRule)})

    @classmethod
    def from_dict(cls, values: dict) -> "AlertRules":
        """Rules from a TOML's tables: every rule, every key (as the defaults file has them)."""
        kinds = {f.name: f.type for f in fields(cls)}
        by_name = {c.name: c for c in (ClassValence, LowEngagement, ParticipantNegative, ParticipantTurnedAway,
                                       ParticipantAbsent)}
        assert set(kinds) == set(by_name) == set(values), (set(kinds), set(values))
        return cls(**{name: by_name[name](**values[name]) for name in kinds})


def load_rules(path: str | Path | None = None) -> AlertRules:
    """The defaults (`bot/alerts.toml`) with the rules in `path` over them; an unknown rule or key,
    or a value of another type, is an `AlertConfigError` naming it."""
    rules = _read_toml(DEFAULTS_FILE)
    if path is not None:
        p = Path(path)
        for rule, values in _read_toml(p).items():
            if rule not in rules or not isinstance(values, dict):
                raise AlertConfigError(f"{p}: unknown rule [{rule}]; rules are {', '.join(rules)}")
            for k, v in values.items():
                if k not in rules[rule]:
                    raise AlertConfigError(f"{p}: [{rule}] has no key {k!r}; keys are {', '.join(rules[rule])}")
                if type(v) is not type(rules[rule][k]) and not (isinstance(v, (int, float)) and
                                                                isinstance(rules[rule][k], (int, float))):
                    raise AlertConfigError(f"{p}: [{rule}] {k} must be a {type(rules[rule][k]).__name__}")
                rules[rule][k] = v
    return AlertRules.from_dict(rules)


class AlertEngine:
    """`update(frame) -> [Alert]` for each tracked `FrameResult`, in time order."""

    def __init__(self, rules: AlertRules | None = None):
        self.rules = rules or load_rules()
        self._since: dict[tuple[str, str | None], float] = {}   # condition true since
        self._last: dict[tuple[str, str | None], float] = {}    # last alert time
        self.window: deque = deque()                             # (t, valences, faces, present)
        self.seen: dict[str, float] = {}                         # participant -> last time on camera

    def update(self, frame: FrameResult) -> list[Alert]:
        t = float(frame.time_s)
        faces = [f for f in frame.participant_faces if f.participant]
        scores = np.array([f.scores for f in faces], dtype=np.float64).reshape(-1, len(EMOTIONS))
        self.window.append((t, valence_of(scores), len(faces), present(frame)))
        now = _Now(t, faces, scores)
        alerts: list[Alert] = []
        for rule in self.rules:
            if rule.enabled:
                alerts += rule.fire(self, now)
        while self.window and self.window[0][0] <= t - 3600:
            self.window.popleft()
        return alerts

    def holding(self, rule: Rule) -> set[str | None]:
        """The participants whose condition for `rule` holds, as of the last frame."""
        return {pid for name, pid in self._since if name == rule.name}

    def holds(self, rule: Rule, pid: str | None) -> bool:
        return (rule.name, pid) in self._since

    def check(self, rule: Rule, pid, condition: bool, t: float, message: str, since=None, value=None) -> list[Alert]:
        """An alert where `condition` has held for the rule's minutes and its cooldown has passed."""
        key = (rule.name, pid)
        if not condition:
            self._since.pop(key, None)
            return []
        start = self._since.setdefault(key, t if since is None else since)
        if t - start < rule.minutes * 60:
            return []
        last = self._last.get(key)
        if last is not None and t - last < rule.cooldown_minutes * 60:
            return []
        self._last[key] = t
        return [Alert(rule.name, message, t, pid, value)]
