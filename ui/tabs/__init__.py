"""One module a tab of the teacher's app; each has `build(state)`, called inside the app's Blocks."""
