"""Rate limit settings and counting (the login and API tests cover the 429 replies)."""
import pytest

from kwtsms import create_app, ratelimit


@pytest.mark.parametrize("text, count, seconds", [
    ("5 per second", 5, 1), ("10 per minute", 10, 60), ("100/hour", 100, 3600),
    ("1000000 per second", 1_000_000, 1), ("100 per 2 hours", 100, 7200), ("3 PER DAY", 3, 86400),
])
def test_limits_are_written_as_people_write_them(text, count, seconds):
    assert ratelimit.parse(text) == ratelimit.Limit(count, seconds)


def test_a_mistyped_limit_stops_the_app_at_start(app_config):
    with pytest.raises(RuntimeError, match="API_RATE_LIMIT"):
        create_app({**app_config, "API_RATE_LIMIT": "five a second"})


def test_without_redis_the_limit_still_holds_in_memory(app_config):
    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:1/0", "API_RATE_LIMIT": "2 per hour"})
    with app.test_request_context("/API/balance/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        assert [ratelimit.hit("api", "API_RATE_LIMIT") for _ in range(3)] == [True, True, False]


def _other_process():
    """What a second web process starts with: no lease of its own (the Redis counter is shared)."""
    ratelimit._leases.clear()


def test_a_high_limit_lets_exactly_its_count_through_across_processes(app, redis_client):
    app.config["API_RATE_LIMIT"] = "1000 per day"  # leases of 10 hits
    with app.test_request_context("/API/balance/", environ_base={"REMOTE_ADDR": "10.9.8.7"}):
        passed = 0
        for turn in range(1200):
            if turn % 7 == 0:
                _other_process()  # leftovers of a lease are never handed to anyone else
            passed += ratelimit.hit("api", "API_RATE_LIMIT")
        assert 0 < passed <= 1000
        _other_process()
        assert not ratelimit.hit("api", "API_RATE_LIMIT")


def test_a_high_limit_asks_redis_once_per_lease(app, redis_client):
    app.config["API_RATE_LIMIT"] = "1000 per day"
    with app.test_request_context("/API/balance/", environ_base={"REMOTE_ADDR": "10.9.8.6"}):
        assert all(ratelimit.hit("api", "API_RATE_LIMIT") for _ in range(1000))
        assert not ratelimit.hit("api", "API_RATE_LIMIT")
    (key,) = redis_client.keys("kwtsms:rate:api:10.9.8.6:*")
    assert int(redis_client.get(key)) == 1010  # 101 leases of 10: one Redis command per ten calls


def test_a_low_limit_counts_every_hit_in_redis(app, redis_client):
    app.config["API_RATE_LIMIT"] = "99 per day"
    with app.test_request_context("/API/balance/", environ_base={"REMOTE_ADDR": "10.9.8.5"}):
        assert [ratelimit.hit("api", "API_RATE_LIMIT") for _ in range(100)] == [True] * 99 + [False]
    (key,) = redis_client.keys("kwtsms:rate:api:10.9.8.5:*")
    assert int(redis_client.get(key)) == 100
