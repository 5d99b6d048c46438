"""The support desk's copilot: `clm serve`, an HTTP API that reads a customer's message (its
intent and sentiment), looks the customer up in the analysts' database and drafts a reply from
the support team's templates, with the retention offer the CRM team chose where it may be made.
"""
