# One image for every Finpace service: `finpace serve <name>`, `finpace migrate`, `finpace provision`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_SYSTEM_PYTHON=1 \
    FINPACE_HOST=0.0.0.0 \
    FINPACE_DATA_DIR=/data

WORKDIR /app

# Dependencies first, from the hashed lock, so code changes reuse this layer.
RUN pip install --no-cache-dir "uv==0.13.9"
COPY requirements.lock ./
RUN uv pip install --no-cache --require-hashes -r requirements.lock

# The code: an editable install keeps schema/ and nats/ beside the packages that read them.
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY subgraphs ./subgraphs
COPY router ./router
COPY schema ./schema
COPY nats ./nats
RUN uv pip install --no-cache --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app finpace \
    && mkdir -p /data && chown finpace /data

USER finpace
EXPOSE 4000 4001
ENTRYPOINT ["finpace"]
CMD ["serve", "party"]
