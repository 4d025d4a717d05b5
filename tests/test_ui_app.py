"""The app's handlers without a browser: where generated files go and when they are gone."""

import os
import time
import zipfile

from tests.test_store import _faces, _picture, add_with_picture, frame


def _app(tmp_path):
    from bot.store import Store
    from ui.app import App, AppConfig

    work = tmp_path / "work"
    return App(AppConfig(db_path=str(tmp_path / "a.db"), work_dir=str(work)), store=Store(tmp_path / "a.db"),
               analyzer=object())


def test_export_zips_kept_faces_and_deleting_them_removes_the_zip(tmp_path):
    app = _app(tmp_path)
    plain = app.store.start_session("no opt-in", "t")
    add_with_picture(app.store, plain, frame(0.0, _faces()), _picture())
    assert [os.path.basename(p).rsplit(".", 1)[1] for p in app.export(plain)] == ["csv", "html"]
    sid = app.store.start_session("consented", "t", keep_faces=True)
    for t in (0.0, 5.0):
        add_with_picture(app.store, sid, frame(t, _faces()), _picture())
    files = app.export(sid)
    faces_zip = next(p for p in files if p.endswith("-faces.zip"))
    with zipfile.ZipFile(faces_zip) as z:
        assert sorted(n.split("/")[0] for n in z.namelist()) == ["ana", "ana"]
        assert all(n.endswith("_sad_0.jpg") or n.endswith("_sad_1.jpg") for n in z.namelist())
    assert app.delete_face_images(sid) == 2
    assert not os.path.exists(faces_zip) and app.store.face_images(sid).empty
    assert "face images kept" not in dict((v, k) for k, v in app.session_choices()[0])[sid]


def test_download_folders_older_than_an_hour_are_swept(tmp_path):
    from ui.app import DOWNLOAD_MAX_AGE_S

    app = _app(tmp_path)
    old, fresh = app._out_dir("old"), app._out_dir("fresh")
    (old / "report.html").write_text("x")
    past = time.time() - DOWNLOAD_MAX_AGE_S - 60
    os.utime(old, (past, past))
    new = app._out_dir("new")
    assert not old.exists() and fresh.exists() and new.exists()


def test_a_locked_database_is_a_readable_message_in_the_page(tmp_path):
    import sqlite3

    import gradio as gr
    import pytest

    from bot.store import Store
    from ui.app import _guard

    app = _app(tmp_path)
    app.store.close()
    app.store = Store(tmp_path / "a.db", timeout=0.2)
    sid = app.store.start_session("x", "t", keep_faces=True)
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        with pytest.raises(gr.Error, match=r"cannot write to the session database .*a\.db: database is locked"):
            _guard(app.delete_face_images)(sid)
    finally:
        blocker.execute("ROLLBACK")
    assert app.store.keeps_faces(sid)  # nothing half-done
