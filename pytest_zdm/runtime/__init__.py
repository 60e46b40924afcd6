"""The process layer every target uses: child processes, their logs, free ports, waiting, leftovers."""
