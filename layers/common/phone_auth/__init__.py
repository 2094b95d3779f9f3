"""phone_auth: the shared package of the phone-auth Lambda functions.

Modules are imported on demand by each function so that a cold start pays only
for what that function uses; nothing heavy happens at import time here.
"""
