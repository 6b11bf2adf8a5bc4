"""Run the scheduling service: `python -m services.scheduling`."""

from services.runtime.service import serve
from services.runtime.settings import load_settings
from services.scheduling.main import create_app

settings = load_settings("scheduling")
serve(create_app(settings), settings)
