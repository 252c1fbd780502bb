# The example app: spoc_asgi with every extra, served by uvicorn on port 8000.
# Configured by the environment (see docker-compose.yml and example_app/config/settings.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The package first, so editing the example does not reinstall the dependencies.
COPY pyproject.toml README.md ./
COPY spoc_asgi ./spoc_asgi
RUN pip install ".[all]"

COPY example_app ./example_app

# Not root; the example dir stays writable for the SQLite fallback (no DATABASE_URL).
RUN useradd --system --uid 10001 --home-dir /app app && chown app /app/example_app
USER app

EXPOSE 8000
CMD ["uvicorn", "example_app:app", "--host", "0.0.0.0", "--port", "8000"]
