"""The SLA tier tables of the seeds, as data (minutes). The hub's SLA engine computes with them;
the agent shows them on the job card. Where the seeds disagree, both tables are here and a
contract's SLA policy chooses; ``DEFAULT_TABLE`` is used when it does not.

"Business" targets (next business day, 3 business days) count working minutes in the policy's
calendar: ``BUSINESS_DAY_MIN`` working minutes make one business day.
"""

BUSINESS_DAY_MIN = 8 * 60

# Service management flow: response and resolution per priority (24/7).
SERVICE_MANAGEMENT = {
    "Critical": {"response_min": 60, "onsite_min": None, "resolution_min": 4 * 60},
    "High": {"response_min": 2 * 60, "onsite_min": None, "resolution_min": 8 * 60},
    "Medium": {"response_min": 4 * 60, "onsite_min": None, "resolution_min": 24 * 60},
    "Low": {"response_min": 8 * 60, "onsite_min": None, "resolution_min": 72 * 60},
}

# Field service flow: response, on-site arrival and resolution per tier (P1..P4 = Critical..Low).
FIELD_SERVICE = {
    "Critical": {"response_min": 15, "onsite_min": 2 * 60, "resolution_min": 4 * 60},
    "High": {"response_min": 60, "onsite_min": 4 * 60, "resolution_min": 8 * 60},
    "Medium": {"response_min": 4 * 60, "onsite_min": BUSINESS_DAY_MIN, "resolution_min": 3 * BUSINESS_DAY_MIN},
    "Low": {"response_min": BUSINESS_DAY_MIN, "onsite_min": 3 * BUSINESS_DAY_MIN,
            "resolution_min": 5 * BUSINESS_DAY_MIN},
}

TABLES = {"service_management": SERVICE_MANAGEMENT, "field_service": FIELD_SERVICE}
DEFAULT_TABLE = "field_service"
