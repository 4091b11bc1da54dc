"""The scaffold engine's execution steps (validate, generate, commit), one function each."""

from functions.servicebus import blueprint_for

bp = blueprint_for("step")
