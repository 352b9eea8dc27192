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
    app = create_app({**app_config, "REDIS_URL": "redis://127.0.0.1:1/0", "API_RATE_LIMIT": "2 per minute"})
    with app.test_request_context("/API/balance/", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        assert [ratelimit.hit("api", "API_RATE_LIMIT") for _ in range(3)] == [True, True, False]
