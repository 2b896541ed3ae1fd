# One image for every farmwatch service (the command picks the service).
FROM python:3.11-slim-bookworm
ENV UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/farmwatch PATH=/opt/farmwatch/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY . .
RUN uv sync --frozen --no-dev --no-editable
USER nobody
CMD ["farmwatch", "--help"]
