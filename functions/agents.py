"""One Service Bus–triggered function per agent manifest in contracts/agents/."""

from functions.servicebus import blueprint_for

bp = blueprint_for("agent")
