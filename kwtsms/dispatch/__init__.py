"""The dispatch engine: RQ jobs that hand claimed recipients to carrier providers
(development sink, SMPP, kwtSMS upstream) chosen by an admin-managed route table,
delivery receipts, refunds, and the sweeps that keep every recipient moving to
exactly one final state. See service.py for the rules."""
