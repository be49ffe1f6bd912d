"""Emulators of vendor storage systems, for tests: each emulator speaks its vendor's API
over real sockets and keeps its data in real storage on this machine."""
