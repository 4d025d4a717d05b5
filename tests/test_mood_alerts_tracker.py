import numpy as np
import pytest

from bot.alerts import AlertConfigError, AlertEngine, load_rules
from bot.mood import NEGATIVE, summarize, valence_of
from bot.records import FaceResult, FrameResult, TileResult
from bot.tracker import Tracker
from model import EMOTIONS


def scores(**kw):
    rest = (1 - sum(kw.values())) / (7 - len(kw))
    return np.array([kw.get(e, rest) for e in EMOTIONS])


def face(tile, emotion="neutral", role="participant", box=(10, 10, 40, 40), participant="tile", **kw):
    """A face as the tracker hands it on (participant `tile-<i>`); participant=None as the analyser does."""
    s = scores(**kw) if kw else scores(**{emotion: 0.7})
    pid = f"tile-{tile}" if participant == "tile" else participant
    return FaceResult(tuple(box), tile, pid, role, 0.9, False, s)


def frame(t, faces, n_tiles=2, width=100):
    return FrameResult(float(t), [TileResult((i * width, 0, width - 10, 50)) for i in range(n_tiles)], faces)


def test_valence_and_negative_set():
    assert NEGATIVE == ("angry", "disgust", "fear", "sad")
    p = np.zeros((3, 7))
    p[0, EMOTIONS.index("happy")] = 1
    p[1, EMOTIONS.index("fear")] = 1
    p[2, EMOTIONS.index("surprise")] = 1
    assert valence_of(p).tolist() == [1.0, -1.0, 0.0]


def test_summarize_counts_participants_only():
    frames = [frame(0, [face(0, happy=1.0), face(1, sad=1.0), face(None, angry=1.0, role="other")]),
              frame(2, [face(0, happy=1.0)])]
    s = summarize(frames)
    assert s.frames == 2 and s.faces == 3
    assert s.emotion_shares["happy"] == pytest.approx(2 / 3, abs=1e-4) and s.emotion_shares["angry"] == 0
    assert s.valence == pytest.approx(1 / 3, abs=1e-4)
    assert s.mood == "positive" and s.trend == "steady"
    assert set(s.to_dict()) == {"frames", "faces", "emotion_shares", "valence", "mood", "trend", "attention"}
    assert summarize([]).to_dict() == {"frames": 0, "faces": 0, "emotion_shares": {e: 0.0 for e in EMOTIONS},
                                       "valence": 0.0, "mood": None, "trend": "steady", "attention": None}


def test_class_valence_alert_after_duration_then_cooldown():
    eng = AlertEngine()  # defaults: below -0.25 for 3 min, cooldown 10 min
    fired = []
    for t in range(0, 15 * 60, 10):
        fired += [(t, a.rule) for a in eng.update(frame(t, [face(0, sad=0.9), face(1, angry=0.9)]))
                  if a.rule == "class_valence"]
    assert [t for t, _ in fired] == [180, 780]


def test_class_valence_resets_when_mood_recovers():
    rules = load_rules()
    rules.class_valence.window_s = 1
    eng = AlertEngine(rules)
    fired = []
    for t in range(0, 600, 10):
        happy = (t // 100) % 2 == 1  # mood recovers every other 100 s: never 3 min in a row
        f = face(0, happy=0.9) if happy else face(0, sad=0.9)
        fired += [a for a in eng.update(frame(t, [f], n_tiles=1)) if a.rule == "class_valence"]
    assert fired == []


def test_participant_negative_absent_and_engagement():
    eng = AlertEngine()
    got = {}
    for t in range(0, 7 * 60, 10):
        faces = [face(0, sad=0.8)]  # tile-0 negative all along; tile-1 never on camera after t=0
        if t == 0:
            faces.append(face(1, happy=0.9))
        for a in eng.update(frame(t, faces, n_tiles=3)):
            got.setdefault((a.rule, a.participant), a.time_s)
    assert got[("participant_negative", "tile-0")] == 300
    assert got[("participant_absent", "tile-1")] == 300
    # engagement over the 60 s window: (2+1)/6 = 0.5 at t=10, below 0.5 from t=20 on -> alert 3 min later
    assert got[("low_engagement", None)] == 200
    assert ("participant_negative", "tile-1") not in got
    assert ("class_valence", None) in got


def test_rules_file_overrides_and_errors(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text("[class_valence]\nthreshold = -0.5\nminutes = 1\n[participant_absent]\nenabled = false\n")
    rules = load_rules(p)
    assert rules.class_valence.threshold == -0.5 and rules.class_valence.cooldown_minutes == 10
    assert rules.class_valence.minutes == 1 and rules.participant_absent.enabled is False
    assert [r.name for r in rules] == ["class_valence", "low_engagement", "participant_negative",
                                       "participant_turned_away", "participant_absent"]
    p.write_text("[participant_absent]\nthreshold = 0.5\n")  # a key another rule has
    with pytest.raises(AlertConfigError, match=r"\[participant_absent\] has no key 'threshold'"):
        load_rules(p)
    p.write_text("[nope]\nx = 1\n")
    with pytest.raises(AlertConfigError, match="unknown rule"):
        load_rules(p)
    p.write_text("[class_valence]\nthreshold = 'low'\n")
    with pytest.raises(AlertConfigError, match="must be a float"):
        load_rules(p)
    p.write_text("[[[")
    with pytest.raises(AlertConfigError, match="not valid TOML"):
        load_rules(p)
    with pytest.raises(AlertConfigError, match="no such"):
        load_rules(tmp_path / "missing.toml")


def names_ocr(names):
    calls = []

    def ocr(frame, tiles):
        calls.append(len(tiles))
        return names[:len(tiles)]
    return ocr, calls


def test_tracker_names_exclusion_smoothing_and_uncertain_after_smoothing():
    ocr, calls = names_ocr(["Ana P", "Mr Teacher", None])
    tr = Tracker(exclude=["mr teacher"], smoothing=0.5, ocr=ocr)
    img = np.zeros((100, 400, 3), np.uint8)
    raw1 = frame(0, [face(0, angry=0.45, participant=None), face(1, sad=1.0, participant=None),
                     face(2, angry=1.0, participant=None)], n_tiles=3)
    d1 = tr.update(raw1, img)
    d2 = tr.update(frame(10, [face(0, sad=0.45, participant=None), face(1, sad=1.0, participant=None)], n_tiles=3),
                   img)
    assert isinstance(d1, FrameResult) and d1 is not raw1 and raw1.faces[0].participant is None  # a new record
    assert calls == [3]  # OCR only when the layout changes
    assert [t.name for t in d1.tiles] == ["Ana P", None]  # the teacher's tile is gone
    assert [f.participant for f in d1.faces] == ["Ana P", "tile-2"]
    assert [f.tile for f in d1.faces] == [0, 1]  # indices point at the kept tiles
    assert all("Teacher" not in str(f.participant) for f in d2.faces)
    sm = d2.faces[0].scores
    assert isinstance(sm, np.ndarray) and sm.shape == (7,)
    rest = 0.55 / 6
    assert sm[EMOTIONS.index("angry")] == pytest.approx(0.5 * 0.45 + 0.5 * rest)
    assert sm[EMOTIONS.index("sad")] == pytest.approx(0.5 * rest + 0.5 * 0.45)
    raw = d2.faces[0].raw_scores  # the analyser's own, kept beside the smoothed ones (never stored)
    assert raw[EMOTIONS.index("sad")] == pytest.approx(0.45) and raw[EMOTIONS.index("angry")] == pytest.approx(rest)
    assert "raw_scores" not in d2.to_dict()["faces"][0]
    # each raw face was sure enough (top 0.45 >= 0.4); smoothed, torn between angry and sad, it is not
    assert not d1.faces[0].uncertain and d2.faces[0].uncertain
    assert d2.faces[0].emotion in ("angry", "sad")
    assert d2.to_dict()["faces"][0]["scores"]["sad"] == round(float(sm[EMOTIONS.index("sad")]), 4)


def test_tracker_keeps_no_face_template_and_follows_labels_across_layouts():
    """After a layout change, unnamed participants are told apart by their name labels' text, never
    by their faces (no biometric template, not even in memory): two people who
    swap places keep their ids when their labels show, and get new ids when nothing but their
    faces could tell."""
    from bot.synthetic import render_gallery, seen_gallery

    rng = np.random.default_rng(0)
    faces = rng.integers(60, 200, (2, 48, 48), dtype=np.uint8)
    tr = Tracker(ocr=False)
    g = render_gallery(faces, 2, size=(1280, 720), names=["Ana Perez", "Ben Okafor"], seed=1)
    d = tr.update(seen_gallery(0, g.tiles), g.image)
    first = [f.participant for f in d.faces]
    assert len(set(first)) == 2
    # the window moved (150 px right, 90 down) and the two in each other's place: ids follow the labels
    g2 = render_gallery(faces[::-1], 2, size=(1280, 720), names=["Ben Okafor", "Ana Perez"], seed=2)
    moved_img = np.zeros((900, 1500, 3), np.uint8)
    moved_img[90:810, 150:1430] = g2.image
    moved_tiles = [(x + 150, y + 90, w, h) for x, y, w, h in g2.tiles]
    d = tr.update(seen_gallery(5, moved_tiles), moved_img)
    assert [f.participant for f in d.faces] == first[::-1]
    assert not any(isinstance(v, np.ndarray) and v.shape == (256,) for v in vars(tr).values())
    # no labels at all (an app that shows none), the faces swapped: nothing but faces could tell
    plain = np.zeros((200, 600, 3), np.uint8)
    tr = Tracker(ocr=False)
    ids = [f.participant for f in tr.update(frame(0, [face(0, participant=None), face(1, participant=None)]), plain).faces]
    moved = frame(5, [face(0, box=(310, 10, 40, 40), participant=None), face(1, box=(410, 10, 40, 40), participant=None)],
                  n_tiles=3, width=200)
    assert not {f.participant for f in tr.update(moved, plain).faces} & set(ids)


def test_one_record_through_tracker_store_and_alerts(tmp_path):
    """The analyser's record, tracked, stored and alerted on: the same numbers everywhere."""
    from bot.store import Store

    rules = load_rules()
    rules.participant_negative.minutes = 0.0
    eng, store, tr = AlertEngine(rules), Store(tmp_path / "r.db"), Tracker(ocr=False, smoothing=1.0)
    sid = store.start_session("c")
    record = tr.update(frame(0, [face(0, sad=0.9, participant=None), face(1, happy=0.9, participant=None)]))
    store.add_frame(sid, record)
    alerts = eng.update(record)
    assert [(a.rule, a.participant) for a in alerts] == [("participant_negative", "tile-0")]
    obs = store.observations(sid)
    assert list(obs["participant"]) == ["tile-0", "tile-1"] and list(obs["emotion"]) == ["sad", "happy"]
    np.testing.assert_allclose(obs[list(EMOTIONS)].to_numpy(), np.stack([f.scores for f in record.faces]), atol=1e-9)
    typed, replayed = summarize([record]), summarize([record.to_dict()])  # the JSON shape reads back the same
    assert typed.to_dict() == replayed.to_dict() | {"valence": pytest.approx(typed.valence, abs=1e-3)}
    store.add_frame(sid, record.to_dict() | {"time_s": 1.0})  # replayed JSON is accepted
    assert len(store.observations(sid)) == 4


def test_an_empty_desktop_raises_no_engagement_alert():
    """Windows that look like tiles with no face are no class: nobody present, no "Only 0% of the
    class has shown a face" alert (one count of who is present: `bot.records.present`). A
    gallery whose cameras are all off still raises it."""
    desk = [FrameResult(float(t), [TileResult((i * 100, 0, 90, 50)) for i in range(8)], []) for t in range(0, 400, 5)]
    eng = AlertEngine()
    assert [a for f in desk for a in eng.update(f)] == []
    dark = [FrameResult(f.time_s, [TileResult(t.box, camera_off=True) for t in f.tiles], []) for f in desk]
    eng = AlertEngine()
    assert {a.rule for f in dark for a in eng.update(f)} == {"low_engagement"}
