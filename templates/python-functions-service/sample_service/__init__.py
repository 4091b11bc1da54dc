"""sample-service: Sample service description."""

SERVICE_NAME = "sample-service"
