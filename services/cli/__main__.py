"""`python -m services.cli` is `kap`."""

from services.cli.main import app

app()
