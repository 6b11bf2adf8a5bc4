"""Run the coaching service: `python -m services.coaching`."""

from services.coaching.main import create_app
from services.runtime.service import serve
from services.runtime.settings import load_settings

settings = load_settings("coaching")
serve(create_app(settings), settings)
