"""The reviewer's report.

Allure results written during the run (:mod:`.allure`), the end-of-run sign-off that decides the gate
and writes ``gate.json`` and the run's report files (:mod:`.signoff`), rendered to HTML (:mod:`.render`).
"""
