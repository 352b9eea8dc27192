"""The background worker (`worker` in the Procfile): an RQ worker with the app loaded.

Jobs take ids, not objects, and open their own database connection.

It is a SimpleWorker (no fork per job): dispatch batches keep their carrier
binds open from one job to the next, and a job costs no fork. It serves the
"dispatch" queue first. When Redis goes away it waits and carries on.
"""
import logging
import time

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker

from . import create_app

QUEUES = ("dispatch", "default")


def main():
    app = create_app()
    if not app.config["REDIS_URL"]:
        raise SystemExit("REDIS_URL is not set; the worker needs Redis (make run sets it for you).")
    connection = Redis.from_url(app.config["REDIS_URL"])
    with app.app_context():
        try:
            while True:
                worker = SimpleWorker(QUEUES, connection=connection)
                try:
                    worker.work(with_scheduler=True)
                except RedisError as error:
                    logging.getLogger("kwtsms.worker").warning("Redis unavailable (%s); retrying", error)
                if worker._stop_requested or worker._shutdown_requested_date is not None:
                    break  # SIGTERM / SIGINT: a warm shutdown, not a crash
                time.sleep(2)  # the work loop quit on an error (Redis restarting): start again
        finally:
            from .dispatch.providers import close_all
            close_all()


if __name__ == "__main__":
    main()
