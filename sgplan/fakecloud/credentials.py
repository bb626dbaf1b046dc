"""The fake cloud's default key pair, the one sgplan's http:// clouds fall back to.

A module of its own so that the CLI can show them as option defaults without importing the
HTTP server (http.server, http.client and ssl: ~30 ms of every command's start, issue 18).
"""

DEFAULT_SECRET_ID = "AKIDsgplanfake"
DEFAULT_SECRET_KEY = "sgplanfakesecret"
