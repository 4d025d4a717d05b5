"""Term tab: a term at a glance (`ui.term`), the viewer's classes (an admin's: all); a click on a
lesson opens its report in the class tab."""

from __future__ import annotations

from ui.handlers import as_viewer, soft
from ui.term import CLICK_JS


def build(state, demo, tab, class_tab):
    """`tab`: this tab (read when it is opened); `class_tab`: what `live.build` returned (a click
    on a lesson opens it there). Returns the hidden box a click writes to, for the page to render
    outside the tabs (inside this one, it would be gone once the click has switched tabs)."""
    import gradio as gr

    with gr.Row():
        gr.Markdown("Each row a class, each cell a lesson: its mood above, its attention below. Point at a cell for "
                    "its figures, click it for its report.")
        again = gr.Button("Read again", scale=0, elem_id="cm-term-refresh")
    view = gr.HTML(elem_id="cm-term")
    opened = gr.Textbox(elem_id="cm-term-open", elem_classes="cm-hidden", show_label=False, container=False,
                        render=False)

    def show(viewer):
        return state.term_view(viewer)

    def open_lesson(viewer, clicked, listed):
        sid = state.open_lesson(viewer, clicked)
        return class_tab.open(viewer, sid, listed)

    def signed(fn):
        return as_viewer(fn, state.viewer)

    tab.select(soft(signed(show), 1), outputs=view, api_name="term")
    again.click(soft(signed(show), 1), outputs=view, api_name=False)
    demo.load(None, js=CLICK_JS)
    opened.change(soft(signed(open_lesson), len(class_tab.open_outputs)), inputs=[opened, class_tab.listed],
                 outputs=class_tab.open_outputs, api_name="open_lesson")
    return opened
