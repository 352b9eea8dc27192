"""/admin/dispatch and /admin/routes: admins only, secrets never shown, routes and providers saved."""
import re

from kwtsms.dispatch import monitor, service
from kwtsms.models import AuditLog, DispatchEvent, DispatchProvider, DispatchRoute


def test_pages_are_for_admins_only(login):
    customer, _ = login()
    for url in ("/admin/dispatch", "/admin/routes", "/admin/routes/providers/new"):
        assert customer.get(url).status_code == 404


def test_provider_secret_is_write_only_and_routes_are_saved(login, app):
    admin, account = login(role="admin")
    response = admin.post("/admin/routes/providers/new", data={
        "name": "Zain", "kind": "smpp", "is_enabled": "y", "host": "smsc.example.net", "port": "2775",
        "system_id": "esme1", "secret": "very-secret-password", "system_type": "", "bind_mode": "transceiver",
        "window": "20", "mps": "100", "enquire_link": "30", "sink_delay": "2", "sink_failure_percent": "0"})
    assert response.status_code == 303
    provider = DispatchProvider.get(DispatchProvider.name == "Zain")
    assert provider.secret == "very-secret-password" and provider.window == 20
    page = admin.get("/admin/routes").get_data(as_text=True)
    assert "very-secret-password" not in page and "…word" in page
    edit = admin.get(f"/admin/routes/providers/{provider.id}").get_data(as_text=True)
    assert "very-secret-password" not in edit and "KWTSMS_PROVIDER_ZAIN_SECRET" in edit
    # Saving without typing a password keeps the stored one.
    admin.post(f"/admin/routes/providers/{provider.id}", data={
        "name": "Zain", "kind": "smpp", "host": "smsc.example.net", "port": "2775", "system_id": "esme1",
        "bind_mode": "split", "window": "20", "mps": "100", "enquire_link": "30"})
    provider = DispatchProvider.get_by_id(provider.id)
    assert provider.secret == "very-secret-password" and provider.bind_mode == "split" and not provider.is_enabled
    assert admin.post("/admin/routes", data={"prefix": "+965", "provider": provider.id}).status_code == 303
    assert admin.post("/admin/routes", data={"prefix": "", "provider": provider.id, "note": "all"}).status_code == 303
    assert sorted(r.prefix for r in DispatchRoute.select()) == ["", "965"]
    assert AuditLog.select().where(AuditLog.action == "dispatch_settings").count() == 4
    route = DispatchRoute.get(DispatchRoute.prefix == "965")
    assert admin.post(f"/admin/routes/{route.id}/delete").status_code == 303
    assert [r.prefix for r in DispatchRoute.select()] == [""]


def test_provider_form_errors(login):
    admin, _ = login(role="admin")
    response = admin.post("/admin/routes/providers/new", data={"name": "X", "kind": "smpp", "bind_mode": "split"})
    assert response.status_code == 400
    assert "needs the carrier" in response.get_data(as_text=True)
    assert DispatchProvider.select().count() == 0


def test_monitor_shows_counts_binds_rates_and_errors(login, app):
    admin, _ = login(role="admin")
    with app.app_context():
        provider = DispatchProvider.create(name="Carrier", kind="smpp", host="h", system_id="s")
        service.log_event("bind_refused", "h:2775 refused the bind of 's': 0x0000000E Invalid Password", provider.id)
        monitor.report_bind(provider.id, "trx", "bound", "worker test:1")
        monitor.count(provider.id, "submitted", 600)
    page = admin.get("/admin/dispatch").get_data(as_text=True)
    assert 'data-testid="event-bind_refused"' in page and "Invalid Password" in page
    assert 'data-testid="bind"' in page and "worker test:1" in page
    assert re.search(r'data-testid="queued"><bdi dir="ltr">0<', page)
    partial = admin.get("/admin/dispatch", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<div id="dispatch-monitor"') and "<html" not in partial
    assert DispatchEvent.select().count() == 1
