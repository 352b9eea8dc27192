"""Peewee models, one module per area. Schema changes go through migrations/
(`flask --app app db generate NAME`, then review the file); a test fails when
the models and the migrations disagree, so every model must be in ALL_MODELS."""
from .accounts import Account, AuditLog, LedgerEntry, PasswordResetToken
from .base import BaseModel, utcnow

ALL_MODELS = [
    Account, LedgerEntry, PasswordResetToken, AuditLog,
]

__all__ = ["ALL_MODELS", "BaseModel", "utcnow", *(model.__name__ for model in ALL_MODELS)]
