"""HTTP routes of sample-service.

Placeholder: the backend-developer agent replaces this file with the CRUD functions of every
entity. It must keep exposing ``bp``, the blueprint ``function_app.py`` registers.
"""

import azure.functions as func

bp = func.Blueprint()
