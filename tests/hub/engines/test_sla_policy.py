"""Which terms apply: seed tables, a contract's policy, its overrides; the priority before raises."""

from hub.engines.sla_policy import base_priority, build, clocks_of, raised
from schema.sla_defaults import BUSINESS_DAY_MIN


def test_without_a_policy_the_field_service_table_applies_24x7():
    policy = build(None, None, None)
    assert policy.source == "table:field_service" and policy.calendar.spec == "24x7"
    assert (policy.near_breach_share, policy.overdue_multiple) == (0.75, 1.5)
    # P3 Medium: 4 h response, next business day on site, 3 business days to resolve.
    assert clocks_of(policy, "Medium") == {"response": 240, "onsite": BUSINESS_DAY_MIN,
                                           "resolution": 3 * BUSINESS_DAY_MIN}


def test_a_contract_may_choose_the_service_management_table_which_has_no_on_site_target():
    policy = build(None, {"table": "service_management"}, None)
    assert clocks_of(policy, "Critical") == {"response": 60, "resolution": 240}


def test_a_policy_replaces_the_table_and_overrides_change_only_what_they_name():
    row = {"response_min": 30, "resolution_min": 120}
    policy = build({"targets": {"Critical": row, "High": {**row, "onsite_min": 90}}, "calendar": "business:GB",
                    "near_breach_share": 0.8}, {"High": {"resolution_min": 100}, "overdue_multiple": 2.0}, "pol-9")
    assert policy.source == "sla_policy:pol-9" and policy.calendar.spec == "business:GB"
    assert (policy.near_breach_share, policy.overdue_multiple) == (0.8, 2.0)
    assert clocks_of(policy, "Critical") == {"response": 30, "resolution": 120}  # no on-site in the policy's row
    assert clocks_of(policy, "High") == {"response": 30, "onsite": 90, "resolution": 100}
    assert clocks_of(policy, "Low")["response"] == BUSINESS_DAY_MIN  # a priority it leaves out: the table's


def test_values_out_of_range_are_ignored_rather_than_trusted():
    policy = build({"targets": {"High": {"response_min": -5, "resolution_min": "soon"}}, "near_breach_share": 7},
                   None, "pol-1")
    assert policy.near_breach_share == 0.75
    assert clocks_of(policy, "High") == {"response": 60, "resolution": 480}  # the field-service table's


def test_the_targets_follow_the_priority_before_the_engine_raised_it():
    assert [raised(p) for p in ("Low", "Medium", "High", "Critical")] == ["Medium", "High", "Critical", "Critical"]
    assert base_priority("High", [("Low", "Medium"), ("Medium", "High")]) == "Low"
    assert base_priority("Critical", [("Low", "Medium")]) == "Critical"  # set by people, not raised to
    assert base_priority("Critical", [("Critical", "Critical")]) == "Critical"
