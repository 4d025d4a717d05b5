"""Class mood tab: follows the live class by itself (the newest live session, unless the teacher
picks another), a glance that fits a laptop screen (headline, needs-attention panel, mood chart),
then more charts, participants and alerts. An ended session (the last class, when none is live)
shows its post-class report beside the glance: "Last class: report", its moments (with the shared
screen of their time) and whom to follow up."""

from __future__ import annotations

from types import SimpleNamespace

from ui.handlers import as_viewer, guard, soft
from bot.report import LOOKING_DOWN


def build(state, demo) -> SimpleNamespace:
    """The tab; returns what another tab needs to open a lesson here (`open_outputs`, `open(viewer,
    session id, listed)`: the term view's click)."""
    import gradio as gr

    with gr.Row(equal_height=True):
        session = gr.Dropdown(choices=[], value=None, label="Session (follows the live class)", scale=4,
                              elem_id="cm-session", allow_custom_value=True)  # any id: the handlers check it
        follow = gr.Button("Follow the live class", scale=1, elem_id="cm-follow")
        export_btn = gr.Button("Export CSV + HTML report", scale=1, elem_id="cm-export")
    with gr.Row(elem_id="cm-glance"):
        with gr.Column(scale=3, min_width=520):
            head = gr.HTML(elem_id="cm-headline")
            glance_chart = gr.HTML(elem_id="cm-glance-chart")
        with gr.Column(scale=2, min_width=320):
            attention = gr.HTML(elem_id="cm-needs-attention")
    charts = gr.HTML(elem_id="cm-charts")
    gr.Markdown(f"<small>{LOOKING_DOWN}</small>", elem_id="cm-looking-down")
    gr.Markdown("### Participants")
    people = gr.HTML(elem_id="cm-participants")
    gr.Markdown("### Alerts")
    alerts = gr.HTML(elem_id="cm-alerts")
    exported = gr.File(label="Downloads", file_count="multiple", interactive=False)
    pinned = gr.State(False)      # the teacher chose a session: stop following the live one
    last_alert = gr.State(-1)     # newest alert id shown (-1: none yet, no toast on first sight)
    listed = gr.State("")         # the session list as last sent: the dropdown is redrawn only when it changes
    timer = gr.Timer(state.config.refresh_s)
    outs = [session, head, glance_chart, attention, charts, people, alerts, last_alert, listed]
    ins = [session, pinned, last_alert, listed]

    def refresh(viewer, selected, is_pinned, last, shown):
        v = state.class_view(viewer, selected, bool(is_pinned), int(last))
        if v.toast:
            gr.Warning(v.toast, title="Class alert")
        key = repr((v.choices, v.selected))
        # an unchanged list is left alone: redrawing it would close it under the teacher's pointer
        menu = gr.skip() if key == shown else gr.update(choices=v.choices, value=v.selected)
        return (menu, v.headline, v.glance_chart, v.needs_attention, v.charts, v.participants, v.alerts,
                v.newest_alert, key)

    def choose(viewer, selected, shown):
        """The teacher picked a session: show it, and keep it until they follow the live class again."""
        return (True,) + refresh(viewer, selected, True, -1, shown)

    def follow_live(viewer, shown):
        return (False,) + refresh(viewer, None, False, -1, shown)

    def signed(fn):
        return as_viewer(fn, state.viewer)

    # api_name: the routes a script (and the tests, with two accounts) call; each checks the account
    timer.tick(soft(signed(refresh), len(outs)), inputs=ins, outputs=outs, show_progress="hidden",
               api_name="class_view")
    demo.load(soft(signed(refresh), len(outs)), inputs=ins, outputs=outs, api_name=False)
    session.input(soft(signed(choose), len(outs) + 1), inputs=[session, listed], outputs=[pinned] + outs,
                  api_name="choose_session")
    follow.click(soft(signed(follow_live), len(outs) + 1), inputs=listed, outputs=[pinned] + outs, api_name=False)
    export_btn.click(guard(signed(state.export)), inputs=session, outputs=exported, api_name="export")
    return SimpleNamespace(open_outputs=[pinned] + outs, open=choose, listed=listed)
