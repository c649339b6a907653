"""Counts that stay cheap on a million rows: an admin list or an API page never runs an exact
COUNT(*) over the whole table per view.

- Unfiltered list on PostgreSQL: the planner's row estimate (`pg_class.reltuples`), shown as
  "about N"; an exact count only when the estimate is small (a young table, or never analysed).
- Filtered or searched list: counted up to `COUNT_CAP` rows (`SELECT COUNT(*) FROM (… LIMIT cap+1)`),
  shown as "N+" when the cap is reached; the pages beyond the cap are not offered.
- SQLite (development, tests): the same capped count for filtered lists, an exact one otherwise.
"""

from __future__ import annotations

from functools import cached_property

from django.contrib.admin.options import ShowFacets
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from rest_framework.pagination import PageNumberPagination

#: a filtered list counts at most this many rows; above it the count shows as "N+"
COUNT_CAP = 1000

#: below this many estimated rows an unfiltered list is counted exactly (cheap, and exact is nicer)
EXACT_BELOW = 50_000


def table_row_estimate(queryset: QuerySet) -> int | None:
    """The planner's estimate of the rows in the queryset's table (PostgreSQL), else None."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:  # -1: never vacuumed or analysed
        return None
    return int(row[0])


def is_unfiltered(queryset: QuerySet) -> bool:
    """True when the queryset selects every row of its table (no WHERE, no DISTINCT, no slice)."""
    query = queryset.query
    return not query.where and not query.distinct and query.low_mark == 0 and query.high_mark is None


class EstimatedCountPaginator(Paginator):
    """A Paginator whose `count` is estimated (unfiltered) or capped (filtered); `count_label`
    says which, for the page: "1,234", "about 1,000,000" or "1000+"."""

    count_cap = COUNT_CAP

    @cached_property
    def count_kind(self) -> str:
        self.count  # noqa: B018 -- decides the kind
        return self._count_kind

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            self._count_kind = "exact"
            return len(queryset)
        if is_unfiltered(queryset):
            estimate = table_row_estimate(queryset)
            if estimate is not None and estimate >= EXACT_BELOW:
                self._count_kind = "estimate"
                return estimate
            self._count_kind = "exact"
            return queryset.count()
        bounded = queryset.order_by()[: self.count_cap + 1].count()
        self._count_kind = "capped" if bounded > self.count_cap else "exact"
        return min(bounded, self.count_cap)

    @property
    def count_label(self) -> str:
        count = self.count
        if self.count_kind == "estimate":
            return _("about %(n)s") % {"n": f"{count:,}"}
        if self.count_kind == "capped":
            return _("%(n)s+") % {"n": f"{count:,}"}
        return f"{count:,}"


class EstimatedCountAdminMixin:
    """For a ModelAdmin over a big table: estimated/capped counts, no second "total" count, no
    facet counts (each is a COUNT over the whole filtered list)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = ShowFacets.NEVER


class EstimatedCountPagination(PageNumberPagination):
    """The API's page-number pagination with the same cheap counts: `count` is exact when small,
    the table estimate when unfiltered, capped at COUNT_CAP when filtered; `count_is_exact` says
    which (an estimate or a cap is False)."""

    django_paginator_class = EstimatedCountPaginator

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["count_is_exact"] = self.page.paginator.count_kind == "exact"
        return response

    def get_paginated_response_schema(self, schema):
        schema = super().get_paginated_response_schema(schema)
        schema["properties"]["count_is_exact"] = {
            "type": "boolean",
            "description": "False when `count` is the table estimate (unfiltered) or the cap (filtered).",
        }
        schema["required"] = [*schema.get("required", []), "count_is_exact"]
        return schema
