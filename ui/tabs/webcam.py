"""Live webcam tab: the expression model on the teacher's own camera or a photo."""

from __future__ import annotations

from ui.handlers import guard


def build(state) -> None:
    import gradio as gr

    gr.Markdown("Test the expression model on your own camera (frames are analysed in memory and never "
                "written to disk), or upload a photo (its copy is deleted an hour later, or when the app stops).")
    with gr.Row():
        with gr.Column():
            cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam")
            photo = gr.Image(sources=["upload"], type="numpy", label="Or a photo")
        with gr.Column():
            annotated = gr.HTML(label="Annotated", elem_id="cm-annotated")
            scores = gr.Label(num_top_classes=7, label="Expression scores", elem_id="cm-scores")
    cam.stream(guard(state.webcam), inputs=cam, outputs=[annotated, scores], stream_every=0.2,
               concurrency_limit=2, show_progress="hidden")
    photo.upload(guard(state.webcam), inputs=photo, outputs=[annotated, scores])
