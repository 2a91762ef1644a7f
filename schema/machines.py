"""The state machines of the seeds, each written once."""

from sync.registry import machine

# Service contract: draft -> active -> expired | cancelled.
CONTRACT = machine(
    "draft",
    {"draft": ["active", "cancelled"], "active": ["expired", "cancelled"]},
    terminal=["expired", "cancelled"],
)

# Ticket: open -> assigned -> in_progress -> resolved -> closed; any stage -> on_hold, then back.
# A resolved ticket the customer reports as not fixed goes back to in_progress.
TICKET = machine(
    "open",
    {
        "open": ["assigned", "in_progress", "resolved"],
        "assigned": ["in_progress", "open"],
        "in_progress": ["resolved"],
        "resolved": ["closed", "in_progress"],
    },
    from_any=["on_hold", "cancelled"],
    resumable=["on_hold"],
    terminal=["closed", "cancelled"],
)

# Work order (the operational document): planned -> released -> completed, or cancelled.
WORK_ORDER = machine(
    "planned",
    {"planned": ["released"], "released": ["completed", "planned"]},
    from_any=["cancelled", "on_hold"],
    resumable=["on_hold"],
    terminal=["completed", "cancelled"],
)

# Dispatch job / service trip: scheduled -> accepted -> en_route -> on_site -> completed | cancelled,
# and problem when the intervention failed (missing parts...), from which a new trip can start.
JOB = machine(
    "scheduled",
    {
        "scheduled": ["accepted", "en_route"],
        "accepted": ["en_route"],
        "en_route": ["on_site"],
        "on_site": ["completed", "problem"],
        "problem": ["en_route", "completed"],
    },
    from_any=["cancelled"],
    terminal=["completed", "cancelled"],
)

# Parts kit sent from a warehouse to a van: prepared -> dispatched -> received, or cancelled.
KIT = machine(
    "prepared",
    {"prepared": ["dispatched", "received"], "dispatched": ["received"]},
    from_any=["cancelled"],
    terminal=["received", "cancelled"],
)

# Invoice: draft -> approved -> sent -> paid; a draft or approved invoice can be voided. A sent
# invoice is never changed again: corrections go on a supplementary invoice or a credit note.
INVOICE = machine(
    "draft",
    {"draft": ["approved", "void"], "approved": ["sent", "void", "draft"], "sent": ["paid"]},
    terminal=["paid", "void"],
)

# Purchase request raised by a stock exception.
PURCHASE_REQUEST = machine(
    "open",
    {"open": ["ordered", "cancelled"], "ordered": ["received", "cancelled"]},
    terminal=["received", "cancelled"],
)

# Customer survey (CSAT on close, NPS after sign-off).
SURVEY = machine(
    "pending",
    {"pending": ["sent", "cancelled"], "sent": ["answered", "expired"]},
    terminal=["answered", "expired", "cancelled"],
)

# A task for a person (a detractor follow-up call, a stock count...).
TASK = machine("open", {"open": ["done", "cancelled"]}, terminal=["done", "cancelled"])
