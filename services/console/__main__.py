"""Run the console: `python -m services.console` (port 8006, HTTP_PORT overrides)."""

import uvicorn

from services.console.main import create_app
from services.console.settings import ConsoleSettings

settings = ConsoleSettings()
uvicorn.run(
    create_app(settings), host=settings.http_host, port=settings.http_port, log_level="warning"
)
