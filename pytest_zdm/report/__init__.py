"""The reviewer's report.

Allure results written during the run (:mod:`.allure`), rendered to HTML (:mod:`.render`).
"""
