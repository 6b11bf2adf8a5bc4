# One image for the five services (intake, scheduling, session, coaching, journey) and the
# clinic console.
# Pick the service at run time:  docker run IMAGE python -m services.<name>
# docker-compose.yml does exactly that for each service.
FROM python:3.11-slim

# Use the slim image's own CPython (never let uv download one), put the venv at /app/.venv,
# precompile bytecode at install time (the runtime user cannot write into the venv).
ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first: this layer is rebuilt only when pyproject.toml or uv.lock change.
# The project itself is not installed (--no-install-project: only the `kap` entry point needs
# that, on operators' machines); code runs from /app (`python -m services.cli` is `kap`).
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY contracts/ ./contracts/
COPY services/ ./services/
COPY config/ ./config/

# Unprivileged runtime user; the code and the venv stay root-owned and read-only to it.
RUN useradd --system --uid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app
USER app

# Listen on all interfaces inside the container (Settings defaults to 127.0.0.1).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HTTP_HOST=0.0.0.0

# Default ports (services/runtime/settings.py SERVICE_PORTS; the console's CONSOLE_PORT);
# HTTP_PORT overrides.
EXPOSE 8001 8002 8003 8004 8005 8006

# There is no single right service to start, so refuse clearly instead of guessing.
CMD ["python", "-c", "raise SystemExit('usage: python -m services.<intake|scheduling|session|coaching|journey|console>')"]
