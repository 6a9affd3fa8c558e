# Aula: one container runs the server with its embedded redis-server (or point it at a Redis
# of yours with AULA_REDIS_URL). Media needs UDP: run with --network host, or publish a UDP
# range and set AULA_ICE_ADDRESSES to the address clients reach (see docs/operations.md).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY server ./server
COPY media ./media
COPY engagement ./engagement
COPY transcription ./transcription
COPY client ./client
COPY events ./events
COPY recording ./recording
COPY workflows ./workflows
COPY summaries ./summaries
COPY web_client ./web_client
# torch's CPU build first (the summaries' sentence embeddings): the default one brings CUDA.
RUN pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu \
    && pip install --no-cache-dir -e .

RUN useradd --create-home --uid 10001 aula && mkdir -p /data && chown aula:aula /data
USER aula

ENV AULA_HOST=0.0.0.0 AULA_PORT=8080 AULA_DATA_DIR=/data
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('AULA_PORT', '8080'), timeout=2)"
CMD ["aula", "serve"]
