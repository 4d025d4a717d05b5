"""Privacy & about tab: what is recorded, the law, retention (as stored), the store-wide class-only
mode, deleting a session (after a confirmation) or only its face images, and how reliable the model is."""

from __future__ import annotations

from ui.handlers import as_viewer, soft
from bot.legal import NOTICE, STORED


def build(state, demo, tab) -> None:
    import gradio as gr

    gr.Markdown(f"### What is recorded\n{STORED}\n\nThe bot never records the tiles of excluded names "
                "(`classmood-bot --exclude`). Sessions stored longer ago than the retention period are deleted when you "
                "press *Save and apply retention now* and whenever the app or the bot starts. The period counts from "
                "when a session was stored, not from the lesson's date: recordings of past lessons analysed today are "
                "kept for the whole period from today.\n\n"
                f"### The law\n{NOTICE}")
    admin_only = gr.Markdown(visible=False, elem_id="cm-admin-only")
    with gr.Row(visible=False, elem_id="cm-retention-row") as retention_row:
        retention = gr.Number(value=None, label="Keep sessions for (days)", minimum=1, precision=0,
                              elem_id="cm-retention")
        save_ret = gr.Button("Save and apply retention now", elem_id="cm-save-retention")
    ret_msg = gr.Markdown(elem_id="cm-retention-msg")
    with gr.Row(visible=False, elem_id="cm-class-only-row") as class_only_row:
        class_only = gr.Checkbox(label="Class-only mode for every new session: store only the class's counts per frame "
                                       "(faces, participants present, confident positive and negative faces, attention); "
                                       "no names, no per-face rows, no pictures, no participant's alert",
                                 elem_id="cm-class-only")
        save_mode = gr.Button("Save the mode", elem_id="cm-save-class-only")
    mode_msg = gr.Markdown(elem_id="cm-class-only-msg")
    with gr.Row(visible=False, elem_id="cm-delete-row") as delete_row:
        del_session = gr.Dropdown(choices=[], value=None, label="Session to delete", elem_id="cm-del-session",
                                  allow_custom_value=True)  # any id: the handlers check who asks
        del_btn = gr.Button("Delete session and all its data...", variant="stop", elem_id="cm-delete")
        del_faces_btn = gr.Button("Delete its face images only", elem_id="cm-delete-faces")
    with gr.Row(visible=False, elem_id="cm-confirm") as confirm_row:
        confirm_text = gr.Markdown(elem_id="cm-confirm-text")
        yes = gr.Button("Yes, delete it for good", variant="stop", elem_id="cm-confirm-yes")
        no = gr.Button("Cancel", elem_id="cm-confirm-no")
    del_msg = gr.Markdown(elem_id="cm-delete-msg")
    table, acc, f1 = state.model_card_table()
    gr.Markdown("### How reliable is the model?\n"
                f"On FER2013's validation faces it is right {acc:.0%} of the time overall (macro-F1 {f1:.2f}); per "
                "expression:" if acc is not None else "### How reliable is the model?\nNo validation figures in the "
                                                      "model card.")
    gr.Dataframe(value=table, interactive=False, label="Per-expression recall and precision")

    def deletable(viewer, sid=None):
        """Sessions as stored now (every one, those without frames too: they can be deleted); an
        admin's list (a teacher has none)."""
        if not viewer.admin:
            return gr.update(choices=[], value=None)
        s = state.store.sessions()
        choices = [(f"{r.name} (#{r.id})" + (" - face images kept" if r.keep_faces else ""), int(r.id))
                   for r in s.itertuples()]
        return gr.update(choices=choices, value=sid if sid in {c[1] for c in choices} else None)

    def load(viewer, sid):
        """The retention stored in the database (not a default), and the sessions as stored now:
        the admin's controls (a teacher reads why they have none)."""
        shown = gr.update(visible=viewer.admin)
        why = gr.update(visible=not viewer.admin, value=f"Signed in as {viewer.label} (teacher): deleting sessions "
                        "and the retention period are the school admin's. Ask them to delete a lesson early.")
        return (state.store.retention_days, deletable(viewer, sid), shown, shown, why, state.store.class_only, shown,
                mode_text(state.store.class_only))

    def mode_text(on: bool) -> str:
        return ("**Class-only mode is on**: new sessions store the class's counts alone; the class tab and the "
                "reports show only those." if on else
                "Sessions store each participant's expressions (no images unless opted in). An admin can switch "
                "this database to class-only mode.")

    def save_class_only(viewer, on):
        stored = state.set_class_only(viewer, bool(on))
        return mode_text(stored) + " Sessions already stored are not changed.", stored

    def save_retention(viewer, days):
        state.must_admin(viewer, "change the retention period")
        if days is None or days < 1:
            raise ValueError("retention must be at least 1 day")
        state.store.set_setting("retention_days", int(days))
        n = state.store.purge()
        return f"Keeping sessions for {int(days)} days; {n} older session(s) deleted.", state.store.retention_days

    def ask(viewer, sid):
        state.must_admin(viewer, "delete sessions")
        if sid is None:
            raise ValueError("choose a session to delete")
        s = state.store.session(int(sid))
        if s is None:
            return gr.update(visible=False), "", "That session was already gone.", deletable(viewer, None)
        what = f"**Delete “{s['name']}” (#{int(sid)})** with its {int(s['frames'])} frames, " \
               f"{int(s['observations'])} expressions, its alerts" + \
               (f" and {int(s['face_images'])} face images" if s["face_images"] else "") + "? This cannot be undone."
        return gr.update(visible=True), what, "", gr.skip()

    def delete(viewer, sid):
        if sid is None:
            raise ValueError("choose a session to delete")
        ok = state.delete_session(viewer, int(sid))
        return (gr.update(visible=False), "Session deleted." if ok else "That session was already gone.",
                deletable(viewer, None))

    def cancel():
        return gr.update(visible=False), "Nothing deleted."

    def delete_faces(viewer, sid):
        if sid is None:
            raise ValueError("choose a session first")
        n = state.delete_face_images(viewer, int(sid))
        return f"{n} face image(s) deleted; this session keeps no more.", deletable(viewer, sid)

    def signed(fn):
        return as_viewer(fn, state.viewer)

    demo.load(soft(signed(load), 8), inputs=del_session,
              outputs=[retention, del_session, retention_row, delete_row, admin_only, class_only, class_only_row,
                       mode_msg], api_name=False)
    save_mode.click(soft(signed(save_class_only), 2), inputs=class_only, outputs=[mode_msg, class_only],
                    api_name="set_class_only")
    # on opening the tab only the session list is re-read: re-reading the retention too would
    # overwrite a number the teacher has begun typing (and did, in a test, before it was saved)
    tab.select(soft(signed(deletable), 1), inputs=del_session, outputs=del_session, api_name=False)
    save_ret.click(soft(signed(save_retention), 2), inputs=retention, outputs=[ret_msg, retention],
                   api_name="set_retention")
    del_btn.click(soft(signed(ask), 4), inputs=del_session, outputs=[confirm_row, confirm_text, del_msg, del_session],
                  api_name=False)
    yes.click(soft(signed(delete), 3), inputs=del_session, outputs=[confirm_row, del_msg, del_session],
              api_name="delete_session")
    no.click(soft(cancel, 2), outputs=[confirm_row, del_msg], api_name=False)
    del_faces_btn.click(soft(signed(delete_faces), 2), inputs=del_session, outputs=[del_msg, del_session],
                        api_name="delete_face_images")
