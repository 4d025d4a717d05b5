"""Head pose from five landmarks, attention against a participant's baseline, its columns in the
store and its alert. Angles are checked on landmarks generated from 3-D faces at known angles
(CI-safe); the detector's landmarks and the pose's symmetry on real faces use the real gallery
screenshots (skipped without them, as elsewhere)."""

import sqlite3

import cv2
import numpy as np
import pytest

from bot.alerts import AlertEngine, load_rules
from bot.attention import (AWAY_YAW, BASELINE_LIMIT, BASELINE_MIN, DOWN_PITCH, Baselines, attention_of,
                           state_of)
from bot.mood import summarize
from bot.records import FaceResult, FrameResult, TileResult
from bot.store import Store
from model import EMOTIONS
from model.headpose import TEMPLATE, head_pose, landmarks_at

ANGLES = [(0, 0, 0), (15, 0, 0), (-35, 5, 0), (0, -25, 0), (0, 20, 0), (25, -15, 10), (-50, 10, -15),
          (10, -35, 5), (60, 0, 0), (-20, 0, 25)]


@pytest.mark.parametrize("yaw,pitch,roll", ANGLES)
def test_head_pose_recovers_known_angles_from_the_template(yaw, pitch, roll):
    got = head_pose(landmarks_at(yaw, pitch, roll, scale=0.7, centre=(320, 180)))
    assert got == pytest.approx([yaw, pitch, roll], abs=0.05)


def test_head_pose_on_other_faces_in_perspective_within_a_few_degrees():
    """Faces unlike the template (each coordinate scaled by up to +/-12%), seen by a webcam 60 cm
    away: yaw and pitch within 8 degrees, roll within 6, in every case, yaw within 2.5 typically."""
    rng = np.random.default_rng(3)
    errors = []
    for _ in range(200):
        shape = TEMPLATE * rng.uniform(0.88, 1.12, size=TEMPLATE.shape)
        truth = rng.uniform([-45, -30, -20], [45, 30, 20])
        marks = landmarks_at(*truth, shape=shape, scale=2.0, centre=(100, 100), distance_mm=600)
        errors.append(np.abs(head_pose(marks) - truth))
    errors = np.array(errors)
    assert errors[:, :2].max() < 8 and errors[:, 2].max() < 6
    assert np.median(errors[:, 0]) < 2.5


def test_head_pose_is_vectorised_and_rejects_degenerate_landmarks():
    many = np.stack([landmarks_at(a, 0, 0) for a in (-20, 0, 20)] + [np.zeros((5, 2)), np.full((5, 2), np.nan)])
    got = head_pose(many)
    assert got.shape == (5, 3)
    assert got[:3, 0] == pytest.approx([-20, 0, 20], abs=0.05)
    assert np.isnan(got[3:]).all()  # all points on one spot, or missing: no pose, not a made-up one


def test_states_against_the_camera_axis():
    assert state_of(0, 0) == "facing"
    assert state_of(AWAY_YAW + 1, 0) == "away" and state_of(-(AWAY_YAW + 1), 0) == "away"
    assert state_of(AWAY_YAW - 1, 0) == "facing"
    assert state_of(0, -(DOWN_PITCH + 1)) == "down" and state_of(0, -(DOWN_PITCH - 1)) == "facing"
    assert state_of(0, 35) == "away"  # face raised well above the screen
    assert state_of(None, 0) is None and state_of(float("nan"), 0) is None
    assert attention_of(["facing", "away", "down", None, "facing"]) == 0.5
    assert attention_of([None, None]) is None


def test_a_webcam_beside_the_screen_becomes_the_baseline():
    """A student whose webcam sits to the side reads the screen at yaw 25: at first (no baseline
    yet) that is facing, and stays so; a further turn of 35 degrees reads away, not facing."""
    b = Baselines()
    states = [b.classify("ana", 25 + d, -12 + d) for d in np.tile([-2, 0, 2], 10)]
    assert set(states) == {"facing"}
    assert b.baseline("ana") == pytest.approx((25, -12), abs=0.5)
    assert b.classify("ana", 25 + 35, -12) == "away"
    assert b.classify("ana", 25, -12 - DOWN_PITCH - 5) == "down"   # notes on the desk
    assert b.classify("ana", 25 - 8, -12 + 3) == "facing"
    assert b.classify("ben", 25 + 35, -12) == "away"  # no baseline of ben's yet: the camera's axis


def test_a_participant_turned_away_most_of_the_time_does_not_become_the_norm():
    b = Baselines()
    for _ in range(BASELINE_MIN + 20):
        b.classify("cy", 70.0, 0.0)
    assert b.baseline("cy")[0] == BASELINE_LIMIT
    assert b.classify("cy", 70.0, 0.0) == "away"


def _face(pid, tile, yaw, pitch, emotion="neutral"):
    scores = np.full(len(EMOTIONS), 0.2 / 6)
    scores[EMOTIONS.index(emotion)] = 0.8
    return FaceResult((10 + 60 * tile, 10, 40, 40), tile, pid, "participant", 0.9, False, scores,
                      yaw=yaw, pitch=pitch, roll=0.0)


def _frame(t, poses):
    tiles = [TileResult((60 * i, 0, 60, 60)) for i in range(len(poses))]
    return FrameResult(t, tiles, [_face(None, i, y, p) for i, (y, p) in enumerate(poses)])


def test_the_tracker_sets_attention_per_participant():
    from bot.tracker import Tracker

    tr = Tracker(ocr=False)
    # tile 0 faces the camera, tile 1's camera is beside the screen, tile 2 has no landmarks
    for t in range(BASELINE_MIN):
        out = tr.update(_frame(float(t), [(0, 0), (22, -10), (None, None)]))
    assert [f.attention for f in out.faces] == ["facing", "facing", None]
    out = tr.update(_frame(20.0, [(40, 0), (22, -35), (None, None)]))
    assert [f.attention for f in out.faces] == ["away", "down", None]
    assert summarize([out]).attention == 0.0
    back = FrameResult.from_dict(out.to_dict())
    assert [(f.yaw, f.pitch, f.attention) for f in back.faces] == [(40, 0, "away"), (22, -35, "down"),
                                                                   (None, None, None)]


def test_turned_away_alert_fires_after_its_minutes_and_never_for_looking_down():
    rules = load_rules()
    r = rules.participant_turned_away
    engine = AlertEngine(rules)
    raised = []
    for t in range(0, int(r.minutes * 60) + 61, 10):
        f0 = dataclass_face("ana", 0, "away")
        f1 = dataclass_face("ben", 1, "down")
        faces = [f0, f1] if t != 60 else [f1]  # ana's face missing once: neither starts nor ends it
        raised += engine.update(FrameResult(float(t), [TileResult((0, 0, 60, 60)), TileResult((60, 0, 60, 60))],
                                            faces))
    away = [a for a in raised if a.rule == "participant_turned_away"]
    assert [a.participant for a in away] == ["ana"]
    assert away[0].time_s == r.minutes * 60
    engine = AlertEngine(rules)
    for t in range(0, int(r.minutes * 60) + 61, 10):  # away then back now and then: no alert
        state = "facing" if t % 60 == 0 else "away"
        assert not [a for a in engine.update(FrameResult(float(t), [TileResult((0, 0, 60, 60))],
                                                         [dataclass_face("ana", 0, state)]))
                    if a.rule == "participant_turned_away"]


def dataclass_face(pid, tile, attention):
    import dataclasses

    return dataclasses.replace(_face(pid, tile, 0.0, 0.0), attention=attention)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_store_keeps_pose_and_attention_and_summarises_it(tmp_path, request, backend):
    s = Store(tmp_path / "c.db" if backend == "sqlite" else request.getfixturevalue("pg_url"))
    sid = s.start_session("c")
    states = [("facing", "facing"), ("facing", "away"), ("down", "away"), ("facing", None)]
    for t, pair in enumerate(states):
        faces = [dataclass_face("ana", 0, pair[0]), dataclass_face("ben", 1, pair[1])]
        if pair[1] is None:
            faces[1].yaw = faces[1].pitch = faces[1].roll = None
        s.add_frame(sid, FrameResult(float(t * 30), [TileResult((0, 0, 60, 60)), TileResult((60, 0, 60, 60))], faces))
    obs = s.observations(sid)
    assert list(obs["attention"]) == ["facing", "facing", "facing", "away", "down", "away", "facing", None]
    assert obs["yaw"].iloc[0] == 0.0 and np.isnan(obs["yaw"].iloc[-1])
    tl = s.timeline(sid, window_s=60)
    assert list(tl["attention"]) == [0.75, pytest.approx(1 / 3, abs=1e-4)]
    assert list(tl["looking_down"]) == [0.0, pytest.approx(1 / 3, abs=1e-4)]
    parts = s.participants(sid).set_index("participant")
    assert parts.loc["ana", "attention"] == 0.75 and parts.loc["ben", "attention"] == pytest.approx(0.3333, abs=1e-4)
    s.close()


def test_a_database_from_before_attention_is_upgraded_in_place(tmp_path):
    db = tmp_path / "old.db"
    s = Store(db)
    sid = s.start_session("old")
    s.add_frame(sid, FrameResult(0.0, [TileResult((0, 0, 60, 60))], [dataclass_face("ana", 0, "facing")]))
    s.close()
    con = sqlite3.connect(db)  # as a database from before head pose: the new columns dropped
    for c in ("yaw", "pitch", "roll", "attention"):
        con.execute(f"ALTER TABLE observations DROP COLUMN {c}")
    con.commit()
    con.close()
    s = Store(db)
    obs = s.observations(sid)
    assert len(obs) == 1 and obs["attention"].isna().all() and obs["yaw"].isna().all()
    assert s.timeline(sid)["attention"].tolist() == [None]
    s.add_frame(sid, FrameResult(1.0, [TileResult((0, 0, 60, 60))], [dataclass_face("ana", 0, "away")]))
    assert s.observations(sid)["attention"].tolist() == [None, "away"]
    s.close()


# -- real faces (the detector's landmarks) -----------------------------------------------------------
def _participants(analyzer, image):
    analyzer.forget()
    return [f for f in analyzer.analyze(image).faces if f.role == "participant"]


def test_the_detector_gives_five_landmarks_inside_each_face(real_galleries):
    from model.detector import FaceDetector

    det = FaceDetector()
    try:
        for g in real_galleries:
            found = det.detect(cv2.imread(str(g["path"])))
            assert found, g["file"]
            for d in found:
                x, y, w, h = d.box
                m = d.landmarks
                assert m.shape == (5, 2)
                assert ((m[:, 0] >= x - 0.1 * w) & (m[:, 0] <= x + 1.1 * w)).all()
                assert ((m[:, 1] >= y - 0.1 * h) & (m[:, 1] <= y + 1.1 * h)).all()
                assert m[0, 0] < m[1, 0] and m[3, 0] < m[4, 0]       # left of the image first
                assert max(m[0, 1], m[1, 1]) < m[2, 1] < min(m[3, 1], m[4, 1])  # eyes, nose, mouth
    finally:
        det.close()


def test_pose_on_real_faces_follows_a_mirror_and_a_rotation(real_galleries, analyzer):
    """On real screenshots: the mirror image turns each face's yaw and roll round (same pitch); the
    image turned 15 degrees clockwise adds to each roll, not to yaw; calm galleries read mostly facing."""
    g = max(real_galleries, key=lambda r: r["participant_faces"])
    image = cv2.imread(str(g["path"]))
    faces = [f for f in _participants(analyzer, image) if f.yaw is not None]
    assert len(faces) >= 5
    mirrored = {(image.shape[1] - f.box[0] - f.box[2], f.box[1]): f for f in _participants(analyzer, image[:, ::-1].copy())}
    pairs = []
    for f in faces:
        m = min(mirrored.items(), key=lambda kv: abs(kv[0][0] - f.box[0]) + abs(kv[0][1] - f.box[1]))[1]
        pairs.append(((f.yaw, f.pitch, f.roll), (m.yaw, m.pitch, m.roll)))
    p = np.array(pairs, dtype=float)
    # (the detector's landmarks on 40-90 px faces move by a pixel or two in the mirror image)
    assert np.median(np.abs(p[:, 0, 0] + p[:, 1, 0])) < 6   # yaw turned round
    assert np.median(np.abs(p[:, 0, 2] + p[:, 1, 2])) < 3   # roll too
    assert np.median(np.abs(p[:, 0, 1] - p[:, 1, 1])) < 5   # pitch kept

    h, w = image.shape[:2]
    turn = cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), -15, 1.0), (w, h))  # clockwise
    turned = [f for f in _participants(analyzer, turn) if f.roll is not None]
    assert len(turned) >= len(faces) // 2
    # the detector's landmarks follow a tilt only in part (docs/teacher.md, "Attention": 0.8 of it on
    # 200-pixel faces, 0.15-0.3 on gallery-sized ones), but in its direction; yaw does not follow it
    gained = np.median([f.roll for f in turned]) - np.median([f.roll for f in faces])
    assert 1 < gained <= 17
    assert abs(np.median([f.yaw for f in turned]) - np.median([f.yaw for f in faces])) < 5

    states = [state_of(f.yaw, f.pitch) for f in faces]
    assert attention_of(states) >= 0.8
