"""The developer API: a kwtSMS-compatible JSON API (../shared/API.md) and its settings.

- credentials.py: API username/password, fast and safe verification, IP lockdown, settings
- service.py: the endpoints as plain functions (account, params) -> dict, or ApiError
- views.py: the `/API/<endpoint>/` blueprint (JSON only, no session, no CSRF)
- webhooks.py: delivery reports pushed to the account's webhook, signed, retried
- settings_views.py: the account's API page and the operator's "grant API access" switch
"""
