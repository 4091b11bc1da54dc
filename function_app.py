"""The Azure Functions app: registers the blueprints, nothing else."""

import azure.functions as func

from functions import agents, coordinators, http, scaffold

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

app.register_functions(agents.bp)
app.register_functions(coordinators.bp)
app.register_functions(scaffold.bp)
app.register_functions(http.bp)
