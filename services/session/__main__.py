"""Run the session service: `python -m services.session`."""

from services.runtime.service import serve
from services.runtime.settings import load_settings
from services.session.main import create_app

settings = load_settings("session")
serve(create_app(settings), settings)
