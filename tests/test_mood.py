"""Mood defined once (bot.mood): a calm class reads calm, a sad one negative, the trend follows the
class's history, and summarize, the store's timeline and participants, and the alerts give the same
numbers on the same frames."""

import dataclasses

import numpy as np
import pytest

from bot.alerts import AlertEngine, load_rules
from bot.mood import MOOD_THRESHOLD, mood_of, summarize, trend_of, valence_of
from bot.records import FaceResult, FrameResult, TileResult
from bot.store import Store
from model import EMOTIONS


def scores(**kw):
    p = np.array([kw.get(e, 0.0) for e in EMOTIONS], np.float32)
    return p / p.sum()


CALM = scores(neutral=0.55, sad=0.15, angry=0.1, fear=0.1, happy=0.05, surprise=0.05)     # a neutral face
UNSURE_SAD = scores(sad=0.42, neutral=0.38, fear=0.1, angry=0.1)                          # not confident
SAD = scores(sad=0.7, neutral=0.15, fear=0.15)
HAPPY = scores(happy=0.8, neutral=0.2)


def frame(t, faces):
    fs = [FaceResult(box=(10 * k, 10, 40, 40), tile=k, participant=f"p{k}", role="participant", confidence=0.9,
                     uncertain=False, scores=s) for k, s in enumerate(faces)]
    return FrameResult(time_s=float(t), tiles=[TileResult((0, 0, 50, 50), None, False)] * len(faces), faces=fs)


def test_a_calm_class_reads_neutral_and_a_sad_one_negative():
    calm = frame(0, [CALM] * 20 + [UNSURE_SAD] * 5)
    s = summarize([calm])
    assert s.mood == "neutral" and s.valence == 0.0
    old = float(np.mean([c[EMOTIONS.index("happy")] - sum(c[EMOTIONS.index(e)] for e in ("angry", "disgust", "fear", "sad"))
                         for c in [CALM] * 20 + [UNSURE_SAD] * 5]))
    assert old < -MOOD_THRESHOLD  # what the old mean-probability valence made of the same class
    assert summarize([frame(0, [SAD] * 15 + [CALM] * 10)]).mood == "negative"
    assert summarize([frame(0, [HAPPY] * 10 + [CALM] * 15)]).mood == "positive"
    assert mood_of(None) is None and summarize([frame(0, [])]).mood is None


def test_the_trend_follows_the_class_history():
    calm_then_sad = [frame(t, [CALM] * 10 if t < 300 else [SAD] * 6 + [CALM] * 4) for t in range(0, 600, 10)]
    assert summarize(calm_then_sad).trend == "falling"
    recovering = [frame(t, [SAD] * 6 + [CALM] * 4 if t < 300 else [HAPPY] * 5 + [CALM] * 5) for t in range(0, 600, 10)]
    assert summarize(recovering).trend == "rising"
    assert summarize([frame(t, [CALM] * 10) for t in range(0, 600, 10)]).trend == "steady"
    assert trend_of([0, 10], [0.0, 1.0]) == "steady"  # too short to say


def test_one_definition_for_summary_timeline_participants_and_alerts(tmp_path):
    frames = [frame(t, [CALM, SAD, HAPPY, UNSURE_SAD] if t % 20 else [SAD, SAD, CALM, HAPPY]) for t in range(0, 60, 10)]
    store = Store(tmp_path / "m.db")
    sid = store.start_session("c")
    for f in frames:
        store.add_frame(sid, f)
    s = summarize(frames)
    tl = store.timeline(sid, window_s=60)
    assert len(tl) == 1
    assert tl.loc[0, "valence"] == pytest.approx(s.valence) and tl.loc[0, "mood"] == s.mood
    parts = store.participants(sid).set_index("participant")
    for k in range(4):
        mine = np.array([f.faces[k].scores for f in frames])
        assert parts.loc[f"p{k}", "valence"] == pytest.approx(valence_of(mine).mean(), abs=1e-4)
        assert parts.loc[f"p{k}", "mood"] == mood_of(valence_of(mine).mean())
    rules = load_rules()  # a rule that fires on every frame, to read the valence it acted on
    rules.class_valence = dataclasses.replace(rules.class_valence, threshold=1.01, minutes=0, window_s=3600,
                                              cooldown_minutes=0)
    fired = [a for f in frames for a in AlertEngine(rules).update(f) if a.rule == "class_valence"]
    assert len(fired) == len(frames)
    eng = AlertEngine(rules)
    last = [a for f in frames for a in eng.update(f) if a.rule == "class_valence"][-1]
    assert last.value == pytest.approx(s.valence) and "The class has looked negative" in last.message


def _gallery_mood(fer2013, analyzer, label, seed):
    from bot.synthetic import detectable_faces, render_gallery

    x, y = fer2013["val"]
    pick = np.random.default_rng(seed).permutation(np.where(y == EMOTIONS.index(label))[0])[:60]
    faces = detectable_faces(x[pick])[:25]
    g = render_gallery(faces, 25, size=(1920, 1080), seed=seed)
    analyzer.forget()
    return summarize([analyzer.analyze(g.image)])


@pytest.mark.parametrize("seed", [1, 2])
def test_fer_galleries_of_neutral_faces_read_neutral_and_sad_or_angry_negative(fer2013, analyzer, seed):
    assert _gallery_mood(fer2013, analyzer, "neutral", seed).mood in ("neutral", "positive")
    assert _gallery_mood(fer2013, analyzer, "sad", seed).mood == "negative"
    assert _gallery_mood(fer2013, analyzer, "angry", seed).mood == "negative"


def test_real_galleries_read_calm(real_galleries, analyzer):
    import cv2

    for g in real_galleries:
        analyzer.forget()
        s = summarize([analyzer.analyze(cv2.imread(str(g["path"])))])
        assert s.mood in ("neutral", "positive"), (g["file"], s.valence)
