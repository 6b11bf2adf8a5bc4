"""Run the intake service: `python -m services.intake`."""

from services.intake.main import create_app
from services.runtime.service import serve
from services.runtime.settings import load_settings

settings = load_settings("intake")
serve(create_app(settings), settings)
