# shopbridge: one image for every process (worker, scheduler, web, db upgrade, run).
# Small (python slim, no compiler: psycopg's binary wheel), and it runs as a user without rights.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SHOPBRIDGE_HOME=/data SHOPBRIDGE_LOG_FORMAT=json
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /data --create-home shopbridge
USER shopbridge
WORKDIR /data
EXPOSE 8100
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8100/healthz', timeout=4).status == 200 else 1)" || exit 1
ENTRYPOINT ["shopbridge"]
CMD ["web", "--host", "0.0.0.0", "--port", "8100"]
