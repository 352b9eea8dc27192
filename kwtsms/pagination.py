"""Offset pagination for list pages (the page number comes from ?page=)."""
from dataclasses import dataclass

from flask import request


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    has_next: bool

    @property
    def has_prev(self):
        return self.number > 1


def paginate(query, per_page, number=None):
    """One page of `query`; fetches one extra row to know whether a next page exists."""
    if number is None:
        number = request.args.get("page", 1, type=int) or 1
    number = max(1, min(number, 100000))
    rows = list(query.limit(per_page + 1).offset((number - 1) * per_page))
    return Page(items=rows[:per_page], number=number, per_page=per_page, has_next=len(rows) > per_page)
