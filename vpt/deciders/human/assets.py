"""Where the page's files are: the package's static folder and the jsPsych build `make human-assets` copies into it."""

from __future__ import annotations

from pathlib import Path

from vpt.errors import UserError

STATIC = Path(__file__).resolve().parent / "static"
VENDOR_FILES = ("jspsych.js", "jspsych.css", "plugin-html-button-response.js", "plugin-instructions.js",
                "plugin-preload.js")


def check_assets() -> None:
    """Refuse to start without the vendored jsPsych files (a clear fix, not a blank page)."""
    missing = [f for f in VENDOR_FILES if not (STATIC / "vendor" / f).is_file()]
    if missing:
        raise UserError(f"{STATIC / 'vendor'}: jsPsych is not installed ({', '.join(missing)} missing); run "
                        "`make human-assets` (npm ci from the lockfile in vpt/deciders/human/web)")
