"""The bundled fake's default key pair (`sgplan fake-cloud serve`), which `http://` clouds fall
back to when no other credentials are configured. Not a secret: it only opens a local fake.

One module for the server, the SDK client and the CLI's option defaults; small, so that the CLI
names them without importing the HTTP server or the SDK (issue 18: start-up time).
"""

FAKE_SECRET_ID = "AKIDsgplanfake"
FAKE_SECRET_KEY = "sgplanfakesecret"
