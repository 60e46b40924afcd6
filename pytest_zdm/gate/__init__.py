"""The phase-change gate.

The verdict (:mod:`.verdict`) and the end-of-run summary of every check that did not pass
(:mod:`.summary`). The sign-off that writes the gate file and the report is :mod:`pytest_zdm.report.signoff`.
"""
