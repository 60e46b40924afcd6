"""The sign-off page as a PDF for change tickets, printed by a headless Chromium.

The page is printed from the report file itself (``file://``), so the PDF is exactly what a reviewer sees
first; its print style sheet keeps the sign-off and leaves the Allure application out. Chromium is the
browser on the machine (Debian's ``chromium``, or Google Chrome), never one downloaded at run time. It
starts with a fresh profile and without background networking (no update checks, no sync, no lookups of
Google's hosts), and it runs in its own process group, killed whole if it overruns its time.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from pytest_zdm.errors import ZdmError
from pytest_zdm.runtime.process import run_once

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_PRINT_TIMEOUT = 180.0
#: Headless flags that work as root in a container and keep the browser off the network.
HEADLESS_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
)


def find_browser(named: str | None = None) -> str | None:
    """The browser to print with: ``named`` (a path or a command), else the first of :data:`BROWSERS`."""
    if named:
        return shutil.which(named)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def print_pdf(browser: str, page: Path, pdf: Path, *, budget_ms: int = 15000) -> Path:
    """Print ``page`` (opened as ``file://``) to ``pdf``; one line naming the failure otherwise.

    ``budget_ms`` of virtual time lets the page's scripts run before printing (the page is static HTML,
    but the report's application shares the file and loads first).
    """
    pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = pdf.with_name(pdf.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="zdm-chromium-") as profile:
        command = [browser, *HEADLESS_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
                   f"--virtual-time-budget={budget_ms}", f"--print-to-pdf={tmp}",
                   page.resolve().as_uri()]  # fmt: skip
        try:
            proc = run_once(command, timeout=_PRINT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ZdmError(f"pdf: {browser} did not print {page} within {_PRINT_TIMEOUT:.0f}s") from None
        except OSError as exc:
            raise ZdmError(f"pdf: could not start {browser}: {exc}") from None
    if proc.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and "dbus" not in ln.lower()]
        raise ZdmError(f"pdf: {browser} exited with {proc.returncode}: {(lines or ['no output'])[-1][:300]}")
    tmp.replace(pdf)
    return pdf
