"""Payments: RESERVED orders -> a payment provider -> PaymentCompleted or PaymentFailed."""
