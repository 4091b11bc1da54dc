"""One Service Bus–triggered function per flow in contracts/flows/ (each call = one transition)."""

from functions.servicebus import blueprint_for

bp = blueprint_for("coordinator")
