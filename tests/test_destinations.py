"""Destination countries: prices, longest-prefix lookup, per-account activation,
customers asking for a country, and the public prices page."""
import json

import pytest

from kwtsms.destinations import service
from kwtsms.errors import FieldErrors
from kwtsms.models import AccountCountry, AuditLog, Country, CountryRequest

from .factories import make_account

SAUDI, KUWAIT, EGYPT = "966501234567", "96550000001", "201001234567"


def _country(prefix):
    return Country.get(Country.prefix == prefix)


def test_seeded_kuwait_is_active_at_one_point_and_the_rest_off(app):
    account = make_account()
    assert service.points_per_page(account, KUWAIT) == 1
    assert service.points_per_page(account, SAUDI) is None
    assert service.active_prefixes(account) == ["965"]
    assert service.is_country_active(account, "965") and not service.is_country_active(account, "966")
    assert {"965", "966", "971", "973", "974", "968", "20", "91"} <= {c.prefix for c in Country.select()}
    assert Country.select().where(Country.active_by_default).count() == 1


def test_country_for_number_takes_the_longest_prefix(app):
    admin = make_account(role="admin")
    assert service.country_for_number("18765551234").name == "United States and Canada"
    service.create_country(admin, prefix="1876", name="Jamaica", points_per_page=5)
    assert service.country_for_number("18765551234").name == "Jamaica"
    assert service.country_for_number("12125551234").prefix == "1"
    assert service.country_for_number(KUWAIT).prefix == "965"
    assert service.country_for_number("8821234567") is None  # no such country on the list
    assert service.country_for_number("") is None


def test_admin_activates_a_country_for_one_account(login):
    admin_client, admin = login("admin")
    customer, other = make_account(), make_account()
    saudi = _country("966")
    page = admin_client.get(f"/admin/accounts/{customer.id}/countries").get_data(as_text=True)
    assert "Saudi Arabia" in page and "Activate" in page

    row = admin_client.post(f"/admin/accounts/{customer.id}/countries/{saudi.id}", data={"active": "1"},
                            headers={"HX-Request": "true"})
    assert row.status_code == 200 and "<html" not in row.get_data(as_text=True) and "Turn off" in row.get_data(as_text=True)
    assert service.points_per_page(customer, SAUDI) == 2
    assert service.active_prefixes(customer) == ["965", "966"]
    assert service.points_per_page(other, SAUDI) is None  # only that account
    audit = AuditLog.get(AuditLog.action == "country.activated")
    assert audit.account_id == customer.id and json.loads(audit.details)["prefix"] == "966"

    # Kuwait can be turned off for one account too.
    kuwait = _country("965")
    assert admin_client.post(f"/admin/accounts/{customer.id}/countries/{kuwait.id}", data={"active": "0"}).status_code == 303
    assert service.active_prefixes(customer) == ["966"]
    assert service.active_prefixes(other) == ["965"]
    assert "Destinations this account may send to" in admin_client.get(f"/admin/accounts/{customer.id}").get_data(as_text=True)


def test_changing_a_default_affects_only_new_accounts(app):
    admin = make_account(role="admin")
    before = make_account()
    uae = _country("971")
    service.update_country(admin, uae, prefix="971", name="United Arab Emirates", points_per_page=3,
                           active_by_default=True)
    after = make_account()
    assert not service.is_country_active(before, "971")
    assert service.is_country_active(after, "971") and service.points_per_page(after, "971501234567") == 3
    service.update_country(admin, _country("971"), prefix="971", name="United Arab Emirates", points_per_page=3,
                           active_by_default=False)
    assert service.is_country_active(after, "971")  # it had it; keeps it
    assert not service.is_country_active(make_account(), "971")


def test_customer_asks_for_a_country_from_the_prices_page(login):
    customer_client, customer = login()
    admin_client, admin = login("admin")
    egypt = _country("20")
    page = customer_client.get("/prices").get_data(as_text=True)
    assert "Ask to activate" in page
    row = customer_client.post(f"/prices/{egypt.id}/request", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in row and "Requested" in row
    again = customer_client.post(f"/prices/{egypt.id}/request", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "already asked" in again
    assert CountryRequest.select().count() == 1

    page = admin_client.get("/admin/countries").get_data(as_text=True)
    assert "Customers asking for a country" in page and customer.display_name in page
    admin_client.post(f"/admin/accounts/{customer.id}/countries/{egypt.id}", data={"active": "1"})
    assert CountryRequest.get().status == CountryRequest.DONE
    assert service.points_per_page(customer, EGYPT) == 3
    assert "Customers asking" not in admin_client.get("/admin/countries").get_data(as_text=True)
    with pytest.raises(FieldErrors):
        service.request_country(customer, egypt)  # already active


def test_admin_declines_a_request(login):
    admin_client, admin = login("admin")
    customer = make_account()
    request = service.request_country(customer, _country("91"))
    assert admin_client.post(f"/admin/country-requests/{request.id}/decline").status_code == 303
    assert CountryRequest.get_by_id(request.id).status == CountryRequest.DECLINED
    assert service.request_country(customer, _country("91")).status == CountryRequest.PENDING  # may ask again


def test_public_prices_page(client):
    response = client.get("/prices")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Kuwait" in page and "Saudi Arabia" in page
    assert '<bdi dir="ltr" class="num">+965</bdi>' in page and "Ask to activate" not in page
    assert page.index("Kuwait") < page.index("Bahrain")  # Kuwait first
    fragment = client.get("/prices?q=saudi", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Saudi Arabia" in fragment and "Kuwait" not in fragment
    assert "Egypt" in client.get("/prices?q=20").get_data(as_text=True)
    assert "No country matches" in client.get("/prices?q=atlantis").get_data(as_text=True)


def test_prices_in_arabic_use_arabic_country_names(client):
    client.post("/language", data={"language": "ar", "next": "/prices"})
    page = client.get("/prices").get_data(as_text=True)
    assert "الكويت" in page and "+965" in page


def test_admin_manages_countries(login):
    admin_client, admin = login("admin")
    response = admin_client.post("/admin/countries", data={"prefix": "+49", "name": "Germany", "points_per_page": "4"})
    assert response.status_code == 303
    germany = _country("49")
    assert germany.points_per_page == 4 and not germany.active_by_default
    for data, problem in [({"prefix": "49", "name": "Again", "points_per_page": "4"}, "already has the prefix"),
                          ({"prefix": "abc", "name": "X", "points_per_page": "4"}, "Digits only"),
                          ({"prefix": "0", "name": "X", "points_per_page": "4"}, "No country calling code"),
                          ({"prefix": "33", "name": "France", "points_per_page": "0"}, "Number must be between"),
                          ({"prefix": "33", "name": "", "points_per_page": "2"}, "required")]:
        response = admin_client.post("/admin/countries", data=data)
        assert response.status_code == 400 and problem in response.get_data(as_text=True), data

    assert admin_client.post(f"/admin/countries/{germany.id}", data={
        "prefix": "49", "name": "Germany", "points_per_page": "5", "active_by_default": "y"}).status_code == 303
    assert service.points_per_page(make_account(), "4915123456789") == 5
    assert admin_client.post(f"/admin/countries/{germany.id}/delete").status_code == 303
    assert Country.get_or_none(Country.prefix == "49") is None
    assert service.country_for_number("4915123456789") is None
    kuwait = _country("965")
    admin_client.post(f"/admin/countries/{kuwait.id}/delete")
    assert Country.get_or_none(Country.prefix == "965") is not None
    actions = [a.action for a in AuditLog.select().where(AuditLog.actor == admin.id).order_by(AuditLog.id)]
    assert actions == ["country.created", "country.updated", "country.deleted"]


def test_deleting_a_country_removes_its_activations(app):
    admin = make_account(role="admin")
    account = make_account()
    india = _country("91")
    service.set_account_country(admin, account, india, True)
    service.delete_country(admin, india)
    assert AccountCountry.select().count() == 0 and service.active_prefixes(account) == ["965"]


@pytest.mark.parametrize("method, url", [
    ("GET", "/admin/countries"), ("POST", "/admin/countries"), ("GET", "/admin/countries/1"),
    ("POST", "/admin/countries/1/delete"), ("GET", "/admin/accounts/1/countries"),
    ("POST", "/admin/accounts/1/countries/1"), ("POST", "/admin/country-requests/1/decline"),
])
def test_country_admin_pages_do_not_exist_for_customers(login, method, url):
    browser, _ = login()
    assert browser.open(url, method=method).status_code == 404


def test_asking_for_a_country_needs_a_login(client):
    response = client.post("/prices/1/request")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_unknown_ids_are_404(login):
    admin_client, _ = login("admin")
    assert admin_client.get("/admin/countries/999999").status_code == 404
    assert admin_client.get("/admin/accounts/999999/countries").status_code == 404
    customer_client, _ = login()
    assert customer_client.post("/prices/999999/request").status_code == 404


def test_coverage_answers_many_numbers_from_one_read(app):
    account = make_account()
    coverage = service.coverage_for(account)
    assert [coverage.points_per_page(n) for n in (KUWAIT, SAUDI, "999")] == [1, None, None]
    assert coverage.prefixes == ["965"]
