"""Domain models of sample-service.

Placeholder: the backend-developer agent replaces this file with one pydantic model per
entity (create, update and read shapes) generated from the service blueprint.
"""
