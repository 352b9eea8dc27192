"""The background worker (`worker` in the Procfile): an RQ worker with the app loaded.

Jobs take ids, not objects, and open their own database connection.
"""
from redis import Redis
from rq import Worker

from . import create_app

QUEUES = ("default",)


def main():
    app = create_app()
    if not app.config["REDIS_URL"]:
        raise SystemExit("REDIS_URL is not set; the worker needs Redis (make run sets it for you).")
    connection = Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        Worker(QUEUES, connection=connection).work(with_scheduler=True)


if __name__ == "__main__":
    main()
