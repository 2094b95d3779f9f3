"""What each step does: one module per flow, returning domain values (records, dataclasses,
None), never API models. Flows raise phone_auth.errors; they never import phone_auth.api."""
