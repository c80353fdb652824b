# One image for the API and the workers. PyPI's torch wheel brings its own CUDA libraries, so the same
# image trains on a GPU when the container is given one (see docker-compose.yml) and on CPU otherwise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SELFSUP_DATA_DIR=/data \
    SELFSUP_HOST=0.0.0.0

RUN useradd --create-home --uid 1000 selfsup && mkdir /data && chown selfsup /data
WORKDIR /srv/selfsup

# Dependencies first, so that code changes do not reinstall torch.
# constraints.txt pins the same versions CI tested.
COPY pyproject.toml README.md alembic.ini constraints.txt ./
RUN mkdir selfsup app worker migrations && touch selfsup/__init__.py app/__init__.py worker/__init__.py \
    migrations/__init__.py && pip install -c constraints.txt . && pip uninstall -y selfsup

COPY selfsup selfsup
COPY app app
COPY worker worker
COPY migrations migrations
RUN pip install --no-deps .

USER selfsup
VOLUME ["/data"]
EXPOSE 8000
CMD ["selfsup", "api"]
