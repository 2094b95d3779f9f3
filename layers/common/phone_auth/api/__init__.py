"""The HTTP boundary: API Gateway events in, proxy responses and authorizer policies out.

Only the handlers (functions/) import it, and the tools and tests that stand in for API Gateway;
nothing else in phone_auth does (tests/unit/test_layer_imports.py checks it).
"""
