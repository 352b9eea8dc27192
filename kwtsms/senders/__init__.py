"""Sender IDs: requests, approval, blocked names, and the account's own mobile number."""
