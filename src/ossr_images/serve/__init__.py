"""The HTTP layer of `ossr-images serve`: a read-only OCI Distribution v1.1 registry (Starlette on uvicorn).
Names, references and errors are here; what is served comes from `workflows/serve_registry.py`."""
