"""What each collection of sample-service holds and may do.

Placeholder: the backend-developer agent replaces this file with one ``Collection`` per entity
of the service blueprint (fields, relations, uniqueness, lifecycles) and the ``service`` they
belong to.
"""

from sample_service.crud import Service

service = Service(tenancy="single", default_tenant="default", collections=())
