"""How a survey reaches the customer: a sender behind a Protocol.

The feedback engine decides *that* a survey is due; a sender delivers it (email, SMS, a CRM's
mailer). The hub ships only :class:`Outbox`, an in-memory sender that keeps every message, used by
default and in tests — no real email leaves the hub until someone plugs a sender in with
``hub.engines.feedback.configure(store, sender=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SendError(Exception):
    """A survey could not be delivered now; the engine keeps it pending and tries again at its next
    run when ``retryable`` (a mail server down), and logs it otherwise (no address to send to)."""

    def __init__(self, survey_id: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(f"survey {survey_id} not sent: {reason}"
                         + ("; the engine retries at its next run" if retryable else "; fix the contact's address"))
        self.survey_id = survey_id
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class SurveyMessage:
    """One invitation to answer a survey, with what a mailer needs and nothing it must look up."""

    survey_id: str
    kind: str  # "csat" or "nps"
    customer_id: str
    customer_name: str | None
    to: str | None  # the primary contact's email (else any contact's, else the account's); None: portal only
    question: str
    scale: tuple[int, int]  # the scores the customer may give, inclusive
    ticket_id: str | None
    job_id: str | None
    respond_path: str  # where the portal posts the answer


class SurveySender(Protocol):
    """Delivers survey invitations."""

    def send(self, message: SurveyMessage) -> None:
        """Deliver ``message`` or raise :class:`SendError`. Returning means delivered: the engine
        then marks the survey sent. Delivery is at least once — if the hub stops between sending
        and recording, the survey is sent again at the next run — so a sender that talks to the
        outside world should drop a second message with the same ``survey_id``."""


class Outbox:
    """The in-memory sender: every message kept in ``sent``, in the order sent. ``fail_next`` makes
    the next sends raise a retryable :class:`SendError`, to test that nothing is lost."""

    def __init__(self) -> None:
        self.sent: list[SurveyMessage] = []
        self.fail_next = 0

    def send(self, message: SurveyMessage) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SendError(message.survey_id, "the outbox was told to fail")
        self.sent.append(message)

    def ids(self) -> list[str]:
        """The ids of the surveys sent, in order."""
        return [message.survey_id for message in self.sent]
