"""A lean SigV4 signer for the load generator.

botocore's SigV4Auth costs a few hundred microseconds of CPU per request (AWSRequest, header dicts, URL
parsing). On a two-core machine the generator shares the CPU with the servers it measures, so it signs with
agent_runtime.sigv4.Signer, the one Orbit signs its calls to Axon with: the same algorithm, the signing key
derived once per day, for the simple requests the bench sends (an absolute path without dot segments, no query
string). tests/bench/test_signing.py checks that it produces byte-identical signatures to botocore's and that
agent_runtime.sigv4.SigV4Verifier accepts them.
"""

from agent_runtime.sigv4 import Signer

__all__ = ["Signer"]
