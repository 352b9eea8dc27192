"""Peewee models, one module per area. Schema changes go through migrations/
(`flask --app app db generate NAME`, then review the file); a test fails when
the models and the migrations disagree, so every model must be in ALL_MODELS."""
from .accounts import Account, AuditLog, LedgerEntry, PasswordResetToken
from .base import BaseModel, utcnow
from .billing import Order, Package, PaymentCallback, PaymentProvider, RechargeSettings
from .content import ContentRule
from .destinations import AccountCountry, Country, CountryRequest
from .dispatch import (CarrierReceipt, CarrierSubmission, DispatchBatch, DispatchEvent, DispatchProvider,
                       DispatchRoute)
from .groups import Contact, ContactImport, Group
from .messages import Message, OptOut, Recipient
from .senders import BlockedName, MobileVerification, SenderId
from .support import Attachment, ComplaintRecipient, Ticket, TicketRead, TicketReply

ALL_MODELS = [
    Account, LedgerEntry, PasswordResetToken, AuditLog,
    Group, Contact, ContactImport,
    SenderId, BlockedName, MobileVerification, Country, AccountCountry, CountryRequest,
    Package, RechargeSettings, PaymentProvider, Order, PaymentCallback,
    Message, Recipient, OptOut,
    ContentRule,
    DispatchProvider, DispatchRoute, DispatchBatch, CarrierSubmission, CarrierReceipt, DispatchEvent,
    Ticket, ComplaintRecipient, TicketReply, Attachment, TicketRead,
]

__all__ = ["ALL_MODELS", "BaseModel", "utcnow", *(model.__name__ for model in ALL_MODELS)]
