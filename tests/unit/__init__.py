"""In-process tests: each handler called with an API Gateway event on moto (mock_aws), fixtures in conftest.py."""
