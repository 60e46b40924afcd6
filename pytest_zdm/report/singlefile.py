"""The Allure report as one HTML file: read what it embeds, correct its pass rate, put the sign-off first.

``allure generate --single-file`` writes one ``index.html`` holding the application (scripts as base64
``data:`` URLs) and every data file (``d('data/test-cases/<uid>.json','<base64>')``). It opens from disk
(``file://``) with no server, which is how a CI artifact is opened; the multi-file report loads its data
with XHR, which browsers refuse from ``file://`` ("500 Failed to fetch").

Three things are done to it here, all tied to the pinned Allure version (:data:`.render.ALLURE_CLI_VERSION`):

- read the embedded files: each check's result uid (to link the sign-off page to its evidence), the
  summary and Allure's history files (kept for the next report's trend);
- the overview's donut shows ``passed / (passed + failed + broken)`` as a percentage, leaving skipped
  checks out (a run with a skipped check shows "100%"). It is replaced by ``passed/total``, a count, so a
  skipped check reads as what it is, not verified. The replaced code is matched exactly; a different
  Allure version fails loudly instead of shipping the wrong number;
- the sign-off page is inserted at the top of ``<body>`` with a script that shows it for ``#signoff``
  (where an empty address lands) and the Allure application for every other address.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterator
from typing import Any

from pytest_zdm.errors import ZdmError

_DATA = re.compile(r"d\('([^']+)','([A-Za-z0-9+/=]*)'\)")
_SCRIPT = re.compile(r'(<script src="data:text/javascript(?:;\s*charset=utf-8)?;base64,)([A-Za-z0-9+/=]+)(")')
#: Allure 2.46.1's donut title: a pass percentage that leaves skipped checks out of the total.
PASS_RATE_JS = (
    "getChartTitle(){let{passed:e=0,failed:t=0,broken:n=0,total:r=0}=this.statistic;"
    "return r?e?`${this.formatNumber(e/(e+t+n)*100)}%`:`0%`:`???`}"
)
#: What it becomes: passed checks out of all of them, skipped included, as a count.
COUNT_JS = "getChartTitle(){let{passed:e=0,total:r=0}=this.statistic;return r?`${e}/${r}`:`???`}"


class SingleFileReport:
    """An ``index.html`` written by ``allure generate --single-file``."""

    def __init__(self, html: str) -> None:
        self.html = html
        self._data = {m.group(1): m.group(2) for m in _DATA.finditer(html)}
        if "data/suites.json" not in self._data and "widgets/summary.json" not in self._data:
            raise ZdmError(
                "allure: the generated index.html embeds no report data (not a --single-file report)"
            )

    def names(self) -> Iterator[str]:
        """The embedded files' names (``data/test-cases/<uid>.json``, ``history/history-trend.json``...)."""
        return iter(self._data)

    def data(self, name: str) -> bytes | None:
        """The content of one embedded file, or None."""
        encoded = self._data.get(name)
        return base64.b64decode(encoded) if encoded is not None else None

    def json(self, name: str) -> Any:
        """An embedded JSON file, parsed (None when absent)."""
        raw = self.data(name)
        return json.loads(raw) if raw is not None else None

    def results_by_label(self, label: str) -> dict[str, dict[str, str]]:
        """Each test case's ``label`` value -> its ``uid``, ``status`` and ``story``."""
        found: dict[str, dict[str, str]] = {}
        for name in self._data:
            if not name.startswith("data/test-cases/"):
                continue
            case = self.json(name) or {}
            labels = {item.get("name"): item.get("value") for item in case.get("labels", [])}
            if labels.get(label):
                found[str(labels[label])] = {
                    "uid": str(case.get("uid", "")),
                    "status": str(case.get("status", "")),
                    "story": str(labels.get("story") or ""),
                }
        return found

    def history_files(self) -> dict[str, bytes]:
        """Allure's history files (``history/*.json``), for the next report's trend."""
        return {
            name.removeprefix("history/"): raw
            for name in self._data
            if name.startswith("history/") and (raw := self.data(name)) is not None
        }

    def count_not_percentage(self) -> None:
        """Replace the donut's pass percentage (skips left out) by passed/total."""
        if PASS_RATE_JS in self.html:
            self.html = self.html.replace(PASS_RATE_JS, COUNT_JS)
            return
        patched = 0

        def patch(match: re.Match[str]) -> str:
            nonlocal patched
            code = base64.b64decode(match.group(2)).decode("utf-8")
            if PASS_RATE_JS not in code:
                return match.group(0)
            patched += 1
            fixed = base64.b64encode(code.replace(PASS_RATE_JS, COUNT_JS).encode("utf-8")).decode("ascii")
            return match.group(1) + fixed + match.group(3)

        self.html = _SCRIPT.sub(patch, self.html)
        if not patched:
            raise ZdmError(
                "allure: the report's pass-rate code was not found (another Allure version than the pinned "
                "one?); refusing to publish a percentage that counts skipped checks as passed"
            )

    def put_first(self, fragment: str, title: str) -> None:
        """Insert ``fragment`` at the top of ``<body>`` and set the page title."""
        body = re.search(r"<body[^>]*>", self.html)
        if body is None:
            raise ZdmError("allure: the generated index.html has no <body>")
        self.html = self.html[: body.end()] + "\n" + fragment + "\n" + self.html[body.end() :]
        escaped = html.escape(title)
        self.html = re.sub(r"<title>.*?</title>", lambda _: f"<title>{escaped}</title>", self.html, count=1,
                           flags=re.S)  # fmt: skip
