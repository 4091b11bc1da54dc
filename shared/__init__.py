"""The application behind the Software Factory's Azure Functions: ports, adapters, pipeline, engines."""
