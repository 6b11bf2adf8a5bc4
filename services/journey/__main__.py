"""Run the journey service: `python -m services.journey`."""

from services.journey.main import create_app
from services.runtime.service import serve
from services.runtime.settings import load_settings

settings = load_settings("journey")
serve(create_app(settings), settings)
