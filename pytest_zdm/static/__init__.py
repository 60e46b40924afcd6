"""The ``static`` target's pieces: the ``zdm.toml`` settings file and Astra secure connect bundles."""
