"""The field-service data model: every entity's shape, validation and merge kinds.

``REGISTRY`` is what replicas (hub and devices) accept; ``SCHEMAS`` maps entity names to their
marshmallow schema for validating whole records at the edges.
"""

from .accounts import AssetSchema, ContactSchema, CustomerSchema, SiteSchema
from .base import EntitySchema, build_registry, load
from .business import (
    EscalationSchema,
    InvoiceSchema,
    PurchaseRequestSchema,
    StockExceptionSchema,
    SurveySchema,
    TaskSchema,
)
from .contracts import ContractSchema, MilestoneSchema, SlaPolicySchema
from .resources import (
    ItemSchema,
    PartsKitSchema,
    StockLocationSchema,
    StockMoveSchema,
    StockSchema,
    TechnicianSchema,
)
from .service import ChecklistTemplateSchema, JobSchema, TicketCommentSchema, TicketSchema, WorkOrderSchema
from .visit import (
    AttachmentSchema,
    CheckEventSchema,
    ChecklistStepSchema,
    PartUsageSchema,
    SignatureSchema,
    TimeLogSchema,
)

SCHEMA_CLASSES: tuple[type[EntitySchema], ...] = (
    CustomerSchema, ContactSchema, SiteSchema, AssetSchema,
    SlaPolicySchema, ContractSchema, MilestoneSchema,
    TicketSchema, TicketCommentSchema, WorkOrderSchema, JobSchema, ChecklistTemplateSchema,
    CheckEventSchema, TimeLogSchema, PartUsageSchema, ChecklistStepSchema, AttachmentSchema, SignatureSchema,
    TechnicianSchema, StockLocationSchema, ItemSchema, StockSchema, StockMoveSchema, PartsKitSchema,
    EscalationSchema, StockExceptionSchema, PurchaseRequestSchema, InvoiceSchema, SurveySchema, TaskSchema,
)
SCHEMAS: dict[str, type[EntitySchema]] = {cls.entity: cls for cls in SCHEMA_CLASSES}
REGISTRY = build_registry(SCHEMA_CLASSES)

__all__ = ["REGISTRY", "SCHEMAS", "SCHEMA_CLASSES", "EntitySchema", "load"]
