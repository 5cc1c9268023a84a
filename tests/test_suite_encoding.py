"""Run suite (a), request encoding, as part of the project's own tests."""

from conformance.suites.test_encoding import (
    test_every_profile_has_a_documented_shape,
    test_no_key_sends_no_auth_header,
    test_requests_encode_as_documented,
)

__all__ = [
    "test_every_profile_has_a_documented_shape",
    "test_no_key_sends_no_auth_header",
    "test_requests_encode_as_documented",
]
