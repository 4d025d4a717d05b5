"""Recordings tab: upload, analyse in the background with real progress (frame N of M, time left),
a job list whose results survive a page reload for an hour, the report with key-frame thumbnails."""

from __future__ import annotations

import time

from ui.handlers import as_viewer, soft
from bot.report import alerts_html, charts_html, figures_html, headline_html, needs_attention_html, participants_html
from ui.state import IMAGE_TYPES, VIDEO_TYPES


def build(state, demo) -> None:
    import gradio as gr

    gr.Markdown("Upload a class recording (mp4, webm, mkv, avi) or gallery screenshots. The analysis runs "
                "here in the background and is stored as a session; leave or reload the page and it goes on. "
                "Results stay reachable below for an hour.")
    with gr.Row():
        upload = gr.File(label="Recording or images", file_count="multiple", file_types=VIDEO_TYPES + IMAGE_TYPES,
                         type="filepath", elem_id="cm-upload")
        with gr.Column():
            every = gr.Slider(0.5, 30, value=2, step=0.5, label="Analyse one frame every (seconds)",
                              elem_id="cm-every")
            keep = gr.Checkbox(value=False, elem_id="cm-keep-faces",
                               label="Keep face images with this session (only with the participants' consent)")
            roster = gr.File(label="Class roster (optional, and the sure way to get every name right): one name a "
                                   "line, or the participant CSV Zoom, Meet or Teams exports; tiles are named after it. "
                                   "Without one, names are read from the labels", file_types=[".txt", ".csv", ".tsv"],
                             type="filepath", elem_id="cm-roster")
            go = gr.Button("Analyse", variant="primary", elem_id="cm-analyse")
    progress = gr.HTML(elem_id="cm-rec-progress")
    jobs = gr.Dropdown(choices=[], value=None, label="Analyses (kept for an hour)", elem_id="cm-jobs")
    rec_head = gr.HTML(elem_id="cm-rec-headline")
    rec_attention = gr.HTML(elem_id="cm-rec-attention")
    rec_charts = gr.HTML(elem_id="cm-rec-charts")
    rec_people = gr.HTML(elem_id="cm-rec-participants")
    rec_alerts = gr.HTML(elem_id="cm-rec-alerts")
    keyframes = gr.HTML(elem_id="cm-keyframes")
    downloads = gr.File(label="Downloads: CSV, JSON, HTML report (and face images, if kept)", file_count="multiple",
                        interactive=False, elem_id="cm-downloads")
    shown = gr.State("")          # the job list, the job shown and its status, as on the page
    picked = gr.State(None)       # a job the teacher chose in the list (else the newest is shown)
    timer = gr.Timer(1.0)
    results = [rec_head, rec_attention, rec_charts, rec_people, rec_alerts, keyframes, downloads]
    outs = [progress, go, jobs, shown] + results

    def view(viewer, selected, shown_key):
        """Progress of the running job, the Analyse button (off while one runs), the job list, and
        the results of the job `selected` (else the newest) when they changed: `viewer`'s jobs (an
        admin's: all)."""

        choices = state.job_choices(viewer)
        ids = [c[1] for c in choices]
        sid = selected if selected in ids else (ids[0] if ids else None)
        busy = state.busy()
        job = state.job(viewer, sid)
        text = ""
        if busy is not None and state.job(viewer, busy.id) is None:
            text = '<div class="cm-progress">Another teacher\'s recording is being analysed; yours can start when it is done.</div>'
        elif busy is not None:
            pct = 100 * busy.done / busy.total if busy.total else 0
            text = (f'<div class="cm-progress"><b>Analysing {_esc(busy.name)}</b>: {_esc(busy.progress_text())}'
                    f'<progress max="100" value="{pct:.0f}" style="width:100%"></progress></div>')
        elif job is not None and job.status == "failed":
            text = f'<div class="cm-progress cm-failed">{_esc(job.name)}: {_esc(job.progress_text())}</div>'
        elif job is not None and job.note:
            text = f'<div class="cm-progress cm-note">{_esc(job.note)}</div>'
        key = repr((choices, sid, job.status if job else None))
        button = gr.update(interactive=busy is None, value="Analysing..." if busy is not None else "Analyse")
        # the list is redrawn only when it changed: a redraw would close it under the teacher's pointer
        menu = gr.skip() if key == shown_key else gr.update(choices=choices, value=sid)
        head = [text, button, menu, key]
        if key == shown_key:
            return head + [gr.skip()] * len(results)
        if job is None or job.status != "done":
            return head + [""] * (len(results) - 1) + [None]
        r = job.report
        frames = ("<h3>Key frames</h3>" + figures_html(r.key_frames)) if r.key_frames else ""
        # a result just finished (or opened again) is scrolled into view once (`SCROLL`)
        fresh = job.ended is not None and time.time() - job.ended < 15 or bool(job.note)
        top = f'<div class="cm-result" data-job="{job.id}"{" data-fresh=1" if fresh else ""}></div>'
        return head + [top + headline_html(r), needs_attention_html(r), charts_html(r),
                       "<h3>Participants</h3>" + participants_html(r), "<h3>Alerts</h3>" + alerts_html(r),
                       frames, job.files]

    def start(viewer, files, every_s, keep_faces, roster_file, shown_key):
        job = state.start_job(viewer, files, every_s, keep_faces=keep_faces, roster=roster_file)
        return [None] + view(viewer, job.id, "")  # the new job is shown, and followed as the newest

    def pick(viewer, selected, shown_key):
        return [selected] + view(viewer, selected, shown_key)

    def signed(fn):
        return as_viewer(fn, state.viewer)

    go.click(soft(signed(start), len(outs) + 1), inputs=[upload, every, keep, roster, shown],
             outputs=[picked] + outs, api_name="analyse").then(None, js=SCROLL)
    timer.tick(soft(signed(view), len(outs)), inputs=[picked, shown], outputs=outs, show_progress="hidden",
               api_name="recordings").then(None, js=SCROLL)
    jobs.input(soft(signed(pick), len(outs) + 1), inputs=[jobs, shown], outputs=[picked] + outs, api_name=False)
    demo.load(soft(signed(view), len(outs)), inputs=[picked, shown], outputs=outs, api_name=False)


# The results of an analysis that just ended sit below the upload form: brought into view, once
SCROLL = """() => {
  const r = document.querySelector('#cm-rec-headline .cm-result[data-fresh]:not([data-seen])');
  if (r) { r.dataset.seen = '1'; r.scrollIntoView({behavior: 'smooth', block: 'start'}); }
}"""


def _esc(text: str) -> str:
    import html

    return html.escape(str(text))
