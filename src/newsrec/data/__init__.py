"""Data: the canonical schema, the simulated world and its readers, the MIND reader, the
canonical tables and their I/O."""
