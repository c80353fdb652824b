"""The selfsup HTTP service: FastAPI routers over domain services, SQLAlchemy, storage and a Celery queue."""
