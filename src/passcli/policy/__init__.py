"""The sending policy (policy.yaml, SPEC §11): frequency caps, quiet hours, rate limits and
the seed list of test sends."""
