"""FastAPI adapters: the partner API (``api/``), browser pages, error mapping. Routes are thin."""
