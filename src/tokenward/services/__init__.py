"""Use cases. They own transactions (through the ports), raise ServiceError subclasses, and never
import a web framework, SQL or HTTP library."""
