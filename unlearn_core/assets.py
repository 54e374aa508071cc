"""Where the weights this project trains and ships live (``assets/`` beside the package)."""
from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
