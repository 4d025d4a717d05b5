"""The error the model raises for weights it cannot serve (its own module: `model.network` and
`model.classifier` both raise it, and neither imports the other for it)."""

from __future__ import annotations

from pathlib import Path


class ModelLoadError(RuntimeError):
    """The weights file is missing, corrupt, or does not match its model card."""

    def __init__(self, path: str | Path, reason: str, what: str = "expression model"):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"cannot load {what} {self.path}: {reason}")
