"""HTTP: FastAPI routers, dependencies, the error mapping. The only package that imports FastAPI."""
