"""Azure Functions entry point of sample-service (Python v2 model): registers blueprints, nothing else."""

import azure.functions as func

from sample_service.health import bp as health_bp
from sample_service.routes import bp as api_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(health_bp)
app.register_functions(api_bp)
