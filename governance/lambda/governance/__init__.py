"""The governance policy decision point: Cedar policies, rate limits, audit, signed receipts."""
