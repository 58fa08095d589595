"""The GraphQL documents sent to Jangkau and, for the same work, to PostGraphile."""

from __future__ import annotations

COVERAGE = """
query Coverage($from: Date!, $to: Date!) {
  coverage(level: KELURAHAN, period: {from: $from, to: $to}) {
    area { code } activities distinctStaff citizensServed outcomesMet lastActivityAt
  }
}"""

ACTIVITIES = """
query Page($first: Int!) {
  activities(first: $first) {
    edges { node { id startedAt category location staff { id name } } }
  }
}"""

COVERAGE_MAP = """
query Map($from: Date!, $to: Date!, $zoom: Int!) {
  coverageMap(level: KELURAHAN, period: {from: $from, to: $to}, zoom: $zoom)
}"""

AREA = """
query Area($code: String!) { area(code: $code) { code name geometry } }"""

RECORD = """
mutation Record($inputs: [ActivityInput!]!) { recordActivities(inputs: $inputs) { id status } }"""

QUERY_FIELDS = """{ __type(name: "Query") { fields { name } } }"""

PG_COVERAGE = """
query Coverage($t0: Datetime!, $t1: Datetime!) {
  coverageKelurahan(t0: $t0, t1: $t1) {
    nodes { code activities distinctStaff citizensServed outcomesMet lastActivityAt }
  }
}"""

PG_ACTIVITIES = """
query Page($first: Int!) {
  allActivities(first: $first, orderBy: [STARTED_AT_DESC, ID_DESC]) {
    nodes { id startedAt categoryCode geom { geojson } staffByStaffId { id name } }
  }
}"""

PG_AREA = """
query Area($code: String!) { areaByCode(code: $code) { code name geom { geojson } } }"""

LOOKUP = """
query Lookup($id: ID!) { activity(id: $id) { id startedAt category } }"""

PG_LOOKUP = """
query Lookup($id: UUID!) { activityById(id: $id) { id startedAt categoryCode } }"""
