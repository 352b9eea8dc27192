"""Groups and contacts: add, edit, delete, move/copy, search, keyset pages, export."""
import csv
import io

import pytest

from kwtsms.errors import FieldErrors
from kwtsms.groups import service
from kwtsms.models import Contact, Group

from .factories import make_account


@pytest.fixture
def customer_group(login):
    browser, account = login()
    group = service.create_group(account, "Customers")
    return browser, account, group


def test_group_names_are_unique_per_account_and_required(app):
    account, other = make_account(), make_account()
    service.create_group(account, "VIP")
    service.create_group(other, "VIP")  # another account may use the same name
    with pytest.raises(FieldErrors) as error:
        service.create_group(account, " VIP ")
    assert "already have a group" in str(error.value.errors["name"])
    with pytest.raises(FieldErrors):
        service.create_group(account, "   ")


def test_add_contact_normalises_and_refuses_duplicates_and_bad_numbers(app):
    account = make_account()
    group = service.create_group(account, "Staff")
    added = service.add_contact(group, "  Noura   Al-Fahad ", "٥١٢٣٤٥٦٧")
    assert added.contact.mobile == "96551234567" and added.country_added
    assert added.contact.name == "Noura Al-Fahad"
    with pytest.raises(FieldErrors) as error:
        service.add_contact(group, "", "+965 5123 4567")
    assert "already in this group" in str(error.value.errors["mobile"])
    with pytest.raises(FieldErrors) as error:
        service.add_contact(group, "", "9657119440")
    assert "too short for Kuwait" in str(error.value.errors["mobile"])
    assert Group.get_by_id(group.id).size == 1


def test_move_and_copy_skip_numbers_already_in_the_target(app):
    account = make_account()
    source = service.create_group(account, "A")
    target = service.create_group(account, "B")
    ids = [service.add_contact(source, f"n{i}", f"9655000000{i}").contact.id for i in range(3)]
    service.add_contact(target, "already", "96550000000")
    copied, skipped = service.copy_contacts(source, ids, target)
    assert (copied, skipped) == (2, 1)
    assert Group.get_by_id(source.id).size == 3 and Group.get_by_id(target.id).size == 3
    third = service.create_group(account, "C")
    moved, _ = service.copy_contacts(source, ids, third, move=True)
    assert moved == 3 and Group.get_by_id(source.id).size == 0 == service.recount(source)
    assert Group.get_by_id(third.id).size == 3 == service.recount(third)


def test_group_pages_add_search_edit_delete(customer_group):
    browser, account, group = customer_group
    response = browser.post(f"/groups/{group.id}/contacts", data={"name": "Ahmad", "mobile": "+965 5123 4567"})
    assert response.status_code == 303
    browser.post(f"/groups/{group.id}/contacts", data={"name": "Sara", "mobile": "96560001111"})
    browser.get(f"/groups/{group.id}")  # shows (and so clears) the "added" messages
    page = browser.get(f"/groups/{group.id}?q=ahm").get_data(as_text=True)
    assert "96551234567" in page and "96560001111" not in page
    page = browser.get(f"/groups/{group.id}?q=6000", headers={"HX-Request": "true", "HX-Target": "contacts"})
    text = page.get_data(as_text=True)
    assert "<html" not in text and "96560001111" in text and "96551234567" not in text

    contact = Contact.get(Contact.mobile == "96551234567")
    response = browser.post(f"/groups/{group.id}/contacts/{contact.id}/edit",
                            data={f"contact-{contact.id}-name": "Ahmad K", f"contact-{contact.id}-mobile": "96551234568"},
                            headers={"HX-Request": "true"})
    assert response.status_code == 200 and "96551234568" in response.get_data(as_text=True)
    assert Contact.get_by_id(contact.id).name == "Ahmad K"

    response = browser.post(f"/groups/{group.id}/contacts/{contact.id}/delete", headers={"HX-Request": "true"})
    assert 'id="group-size" hx-swap-oob="true"' in response.get_data(as_text=True)
    assert Group.get_by_id(group.id).size == 1


def test_inline_add_with_htmx_returns_the_row_and_the_new_size(customer_group):
    browser, account, group = customer_group
    service.add_contact(group, "first", "96550000001")
    response = browser.post(f"/groups/{group.id}/contacts", data={"name": "Mona", "mobile": "51234567"},
                            headers={"HX-Request": "true"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Kuwait (965) was added" in text and "96551234567" in text and 'hx-swap-oob="afterbegin:#contact-rows"' in text
    bad = browser.post(f"/groups/{group.id}/contacts", data={"mobile": "12"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422 and "is-invalid" in bad.get_data(as_text=True)


def test_keyset_pages_walk_the_whole_group_without_gaps(customer_group, app):
    browser, account, group = customer_group
    app.config["PAGE_SIZE"] = 7
    for i in range(20):
        service.add_contact(group, "", f"965500001{i:02d}")
    seen, after = [], None
    while True:
        page = service.contacts_page(group, after=after, per_page=7)
        seen += [c.mobile for c in page.items]
        if not page.has_next:
            break
        after = page.last_id
    assert len(seen) == 20 == len(set(seen))
    back = service.contacts_page(group, before=page.first_id, per_page=7)
    assert [c.mobile for c in back.items] == seen[7:14]


def test_bulk_delete_and_move_from_the_page(customer_group):
    browser, account, group = customer_group
    other = service.create_group(account, "Other")
    ids = [service.add_contact(group, "", f"9655000001{i}").contact.id for i in range(4)]
    response = browser.post(f"/groups/{group.id}/contacts/bulk", data={"action": "delete", "ids": ids[:2]})
    assert response.status_code == 303 and Group.get_by_id(group.id).size == 2
    browser.post(f"/groups/{group.id}/contacts/bulk", data={"action": "move", "target": other.id, "ids": ids[2:]})
    assert Group.get_by_id(group.id).size == 0 and Group.get_by_id(other.id).size == 2


def test_delete_group_asks_first_then_deletes_its_numbers(customer_group):
    browser, account, group = customer_group
    service.add_contact(group, "", "96550000001")
    page = browser.get(f"/groups/{group.id}/delete").get_data(as_text=True)
    assert "1 numbers will be deleted" in page or "Its 1 numbers" in page
    assert browser.post(f"/groups/{group.id}/delete").status_code == 303
    assert Group.get_or_none(Group.id == group.id) is None and Contact.select().count() == 0


def test_export_neutralises_formulas_and_imports_back_unchanged(customer_group, app, tmp_path):
    from kwtsms.imports import service as imports
    browser, account, group = customer_group
    names = ["=HYPERLINK(\"x\")", "+cmd", "-2+3", "@SUM(A1)", "محمد", "Plain, with comma"]
    for i, name in enumerate(names):
        service.add_contact(group, name, f"9655000002{i}")
    body = browser.get(f"/groups/{group.id}/export.csv").get_data()
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["name", "mobile"]
    assert [r[0][0] for r in rows[1:5]] == ["'"] * 4  # a spreadsheet shows them as text
    path = tmp_path / "export.csv"
    path.write_bytes(body)
    copy = service.create_group(account, "Copy")
    with open(path, "rb") as handle:
        contact_import = imports.save_upload(account, str(tmp_path), "export.csv", handle, 10**7)
    imports.choose_group(contact_import, account, group=copy)
    imports.run_import(contact_import.id)
    original = sorted(Contact.select(Contact.name, Contact.mobile).where(Contact.group == group.id).tuples())
    imported = sorted(Contact.select(Contact.name, Contact.mobile).where(Contact.group == copy.id).tuples())
    assert imported == original


def test_another_accounts_groups_and_contacts_answer_404(customer_group, login):
    browser, account, group = customer_group
    contact = service.add_contact(group, "", "96550000001").contact
    intruder, _ = login()
    for method, url in [("GET", f"/groups/{group.id}"), ("GET", f"/groups/{group.id}/export.csv"),
                        ("POST", f"/groups/{group.id}/contacts"), ("POST", f"/groups/{group.id}/rename"),
                        ("GET", f"/groups/{group.id}/delete"), ("POST", f"/groups/{group.id}/delete"),
                        ("GET", f"/groups/{group.id}/contacts/{contact.id}/edit"),
                        ("POST", f"/groups/{group.id}/contacts/{contact.id}/delete"),
                        ("POST", f"/groups/{group.id}/contacts/bulk")]:
        assert intruder.open(url, method=method, data={"action": "delete", "ids": [contact.id]}).status_code == 404, url
    # Moving into a foreign group is refused too.
    own = service.create_group(_, "Mine")
    target_probe = intruder.post(f"/groups/{own.id}/contacts/bulk", data={"action": "move", "target": group.id, "ids": [1]})
    assert target_probe.status_code == 404
    assert Group.get_by_id(group.id).size == 1


def test_groups_page_empty_state(login):
    browser, _ = login()
    assert "You have no groups yet" in browser.get("/groups/").get_data(as_text=True)
