"""The phase-change gate.

The verdict (:mod:`.verdict`), the end-of-run summary (:mod:`.summary`) and the sign-off that writes the
gate file and the report's run files (:mod:`.signoff`).
"""
