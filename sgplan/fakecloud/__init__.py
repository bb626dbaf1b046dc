"""The fake Tencent Cloud: engine.py (API semantics, no I/O) and server.py (HTTP + TC3 around it)."""
