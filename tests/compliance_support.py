"""Helpers for compliance tests: rules through the admin API, orders that show which rule refused them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from graphql_api.client import GraphQLClient
from graphql_api.pagination import from_global_id

from .trading import ORDER_FIELDS

RULE_FIELDS = """id name type enforcement severity scope venueId venueAccountId symbol symbols maxQuantity
  maxNotional maxDailyLoss maxCount windowSeconds startTime endTime active"""
CREATE_RULE = f"""mutation($i: ComplianceRuleInput!) {{ createComplianceRule(input: $i) {{ __typename
  ... on ComplianceRuleChanged {{ rule {{ {RULE_FIELDS} }} }} ... on UserError {{ message code field }} }} }}"""
UPDATE_RULE = f"""mutation($id: ID!, $i: ComplianceRuleInput!) {{ updateComplianceRule(id: $id, input: $i) {{
  __typename ... on ComplianceRuleChanged {{ rule {{ {RULE_FIELDS} }} }} ... on UserError {{ message code field }} }} }}"""
DELETE_RULE = """mutation($id: ID!) { deleteComplianceRule(id: $id) { __typename
  ... on ComplianceRuleDeleted { deletedId } ... on UserError { code } } }"""
PLACE = f"""mutation($input: PlaceOrderInput!) {{ placeOrder(input: $input) {{ __typename
  ... on OrderPlaced {{ order {{ {ORDER_FIELDS} }} }}
  ... on ComplianceRejected {{ rule }}
  ... on KillSwitchActive {{ scope }}
  ... on UserError {{ message code field }} }} }}"""
VIOLATION_FIELDS = """id type category severity status ruleId ruleName description recommendation userId venue
  venueAccountId symbol detectedAt acknowledgedAt resolvedAt resolutionNote"""
VIOLATIONS = f"""query($f: ComplianceViolationFilter) {{ complianceViolations(filter: $f, first: 50) {{
  totalCount edges {{ node {{ {VIOLATION_FIELDS} }} }} }} }}"""


def rule_input(account: str | None = None, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "rule", "enforcement": "HARD", "scope": "ACCOUNT" if account else "PLATFORM"}
    if account:
        data["venueAccountId"] = account
    data.update({k: str(v) if isinstance(v, Decimal) else v for k, v in fields.items()})
    return data


async def create_rule(boss: GraphQLClient, account: str | None = None, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await boss.query(CREATE_RULE, {"i": rule_input(account, **fields)}))[
        "createComplianceRule"
    ]
    assert result["__typename"] == "ComplianceRuleChanged", result
    rule: dict[str, Any] = result["rule"]
    return rule


async def update_rule(boss: GraphQLClient, rule_id: str, account: str | None = None, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await boss.query(UPDATE_RULE, {"id": rule_id, "i": rule_input(account, **fields)}))[
        "updateComplianceRule"
    ]
    assert result["__typename"] == "ComplianceRuleChanged", result
    return result


async def order(client: GraphQLClient, account: str, **fields: Any) -> dict[str, Any]:
    data = {"venueAccountId": account, "symbol": "BTC", "side": "BUY", "type": "MARKET", **fields}
    data = {k: str(v) if isinstance(v, Decimal) else v for k, v in data.items()}
    result: dict[str, Any] = (await client.query(PLACE, {"input": data}))["placeOrder"]
    return result


def outcome(result: dict[str, Any]) -> str:
    """OrderPlaced, or the refusing rule's name for a ComplianceRejected, or the other type's name."""
    if result["__typename"] == "ComplianceRejected":
        return f"rejected:{result['rule']}"
    return str(result["__typename"])


def pk(global_id: str) -> str:
    return from_global_id(global_id)[1]
